import { decode } from "blurhash";

import { api, Image, sameOriginIfPossible } from "../api";

// Variant URLs for a thumbnail box, 1x and 2x. A public image's variants are its content
// URL plus parameters; a signed one's (private, or signed delivery) must be signed by the
// API, since the signature covers the parameters.
export async function thumbnailSrcset(
  im: Image,
  box: number,
): Promise<{ src: string; srcset: string }> {
  const sizes = [box, box * 2];
  const params = (s: number) => new URLSearchParams({ w: `${s}`, h: `${s}`, fit: "cover" });
  let urls: string[];
  if (!im.imageUrl.includes("sig=")) {
    const base = sameOriginIfPossible(im.imageUrl);
    urls = sizes.map((s) => `${base}?${params(s)}`);
  } else {
    const links = await Promise.all(sizes.map((s) => api.link(im.imageId, params(s))));
    urls = links.map((l) => sameOriginIfPossible(l.url));
  }
  return { src: urls[0], srcset: `${urls[0]} 1x, ${urls[1]} 2x` };
}

// Paints the image's BlurHash behind the <img> until the variant arrives: 32x32 decoded
// pixels, scaled by the browser (the tile crops like the variant, object-fit: cover).
export function paintPlaceholder(img: HTMLImageElement, im: Image): void {
  if (!im.blurhash) return;
  try {
    const size = 32;
    const pixels = new Uint8ClampedArray(decode(im.blurhash, size, size));
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = size;
    const ctx = canvas.getContext("2d");
    if (!ctx) return;
    ctx.putImageData(new ImageData(pixels, size, size), 0, 0);
    img.style.backgroundImage = `url(${canvas.toDataURL()})`;
    img.style.backgroundSize = "cover";
    img.dataset.placeholder = "blurhash";
  } catch {
    // A malformed hash only costs the placeholder.
  }
}
