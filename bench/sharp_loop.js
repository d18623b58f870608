// sharp's in-process resize loop, the peer imgd's cold transform rate is compared with.
// usage: node sharp_loop.js FILE WIDTH CONCURRENCY SECONDS [MAX_IMAGES] [FORMAT]
// FORMAT: jpeg (q 80, the default), webp (sharp's defaults: q 80, effort 4), avif (sharp's
// defaults: q 50, effort 4), or webp-imgd / avif-imgd (imgd's settings for q 80: WebP q 88
// with smart subsampling, AVIF q 77 at effort 1).
// prints {"images_per_s", "latencies_ms", "bytes", "sharp", "vips"} as JSON.
const sharp = require('sharp');
const fs = require('fs');
sharp.cache(false);  // cold: no operation cache between iterations
const [file, width, conc, seconds, maxImages, format] =
    [process.argv[2], +process.argv[3], +process.argv[4], +process.argv[5],
     +(process.argv[6] || Infinity), process.argv[7] || 'jpeg'];
const encode = {
  jpeg: (p) => p.jpeg({quality: 80}),
  webp: (p) => p.webp(),
  avif: (p) => p.avif(),
  'webp-imgd': (p) => p.webp({quality: 88, smartSubsample: true}),
  'avif-imgd': (p) => p.avif({quality: 77, effort: 1}),
}[format];
sharp.concurrency(1);  // one libvips thread per image; parallelism comes from CONCURRENCY
const buf = fs.readFileSync(file);
(async () => {
  const end = Date.now() + seconds * 1000;
  let started = 0;
  const latencies = [];
  let bytes = 0;
  const t0 = process.hrtime.bigint();
  async function worker() {
    while (Date.now() < end && started++ < maxImages) {
      const a = process.hrtime.bigint();
      const out = await encode(sharp(buf).resize({width})).toBuffer();
      bytes = out.length;
      latencies.push(Number(process.hrtime.bigint() - a) / 1e6);
    }
  }
  await Promise.all(Array.from({length: conc}, worker));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({images_per_s: latencies.length / secs, latencies_ms: latencies, bytes,
                              sharp: sharp.versions.sharp, vips: sharp.versions.vips}));
})();
