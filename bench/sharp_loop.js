// sharp's in-process resize loop, the peer imgd's cold transform rate is compared with.
// usage: node sharp_loop.js FILE WIDTH CONCURRENCY SECONDS  → prints images/s as JSON
const sharp = require('sharp');
const fs = require('fs');
sharp.cache(false);
const [file, width, conc, seconds] = [process.argv[2], +process.argv[3], +process.argv[4],
                                      +process.argv[5]];
sharp.concurrency(1);  // one libvips thread per image; parallelism comes from CONCURRENCY
const buf = fs.readFileSync(file);
(async () => {
  const end = Date.now() + seconds * 1000;
  let done = 0;
  const t0 = Date.now();
  async function worker() {
    while (Date.now() < end) {
      await sharp(buf).resize({width}).jpeg({quality: 80}).toBuffer();
      done++;
    }
  }
  await Promise.all(Array.from({length: conc}, worker));
  console.log(JSON.stringify({images_per_s: done * 1000 / (Date.now() - t0),
                              sharp: sharp.versions.sharp, vips: sharp.versions.vips}));
})();
