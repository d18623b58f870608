// sharp's in-process resize loop, the peer imgd's cold transform rate is compared with.
// usage: node sharp_loop.js FILE WIDTH CONCURRENCY SECONDS [MAX_IMAGES]
// prints {"images_per_s", "latencies_ms", "sharp", "vips"} as JSON.
const sharp = require('sharp');
const fs = require('fs');
sharp.cache(false);  // cold: no operation cache between iterations
const [file, width, conc, seconds, maxImages] =
    [process.argv[2], +process.argv[3], +process.argv[4], +process.argv[5],
     +(process.argv[6] || Infinity)];
sharp.concurrency(1);  // one libvips thread per image; parallelism comes from CONCURRENCY
const buf = fs.readFileSync(file);
(async () => {
  const end = Date.now() + seconds * 1000;
  let started = 0;
  const latencies = [];
  const t0 = process.hrtime.bigint();
  async function worker() {
    while (Date.now() < end && started++ < maxImages) {
      const a = process.hrtime.bigint();
      await sharp(buf).resize({width}).jpeg({quality: 80}).toBuffer();
      latencies.push(Number(process.hrtime.bigint() - a) / 1e6);
    }
  }
  await Promise.all(Array.from({length: conc}, worker));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({images_per_s: latencies.length / secs, latencies_ms: latencies,
                              sharp: sharp.versions.sharp, vips: sharp.versions.vips}));
})();
