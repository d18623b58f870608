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
