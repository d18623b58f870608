// The API client: every call sends the key in the Authorization header (never in a URL),
// and every failure becomes an ApiError carrying the server's problem+json detail.
export interface Image {
  imageId: string;
  imageUrl: string;
  imageName: string;
  imageDescription: string;
  createdDate: string;
  modifiedDate: string;
  createdBy: string;
  modifiedBy: string;
  format: string;
  size: number;
  width: number;
  height: number;
  blurhash: string | null;
  sha256: string | null;
  userId: string;
  status: "ready" | "pending";
  visibility: "public" | "private";
  duplicate?: boolean;
  nearDuplicates?: { imageId: string; distance: number }[];
}

export interface User {
  userId: string;
  userName: string;
  userEmail: string;
  isAdmin: boolean;
  createdDate: string;
  apiKey?: string;
}

export interface Link {
  imageId: string;
  url: string;
  signed: boolean;
  expiresAt: string | null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    detail: string,
  ) {
    super(detail);
  }
}

const KEY = "imgd.apiKey";
// Session storage: the key lives as long as the tab, and no other tab or page sees it.
export const session = {
  get key(): string | null {
    return sessionStorage.getItem(KEY);
  },
  set(key: string): void {
    sessionStorage.setItem(KEY, key);
  },
  clear(): void {
    sessionStorage.removeItem(KEY);
  },
};

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (session.key) headers.Authorization = `Bearer ${session.key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  if (!res.ok) {
    let type = "", detail = `${res.status} ${res.statusText}`;
    try {
      const p = await res.json();
      type = p.type ?? "";
      detail = p.detail ?? detail;
    } catch {
      // not problem+json (e.g. a proxy's page): the status line says enough
    }
    throw new ApiError(res.status, type, detail);
  }
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

export const api = {
  me: () => call<User>("GET", "/v1/users/me"),
  list: (cursor: string | null, limit = 24) =>
    call<{ images: Image[]; nextCursor: string | null }>(
      "GET",
      `/v1/images?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
    ),
  byContent: (sha256: string) =>
    call<{ images: Image[] }>("GET", `/v1/images?sha256=${encodeURIComponent(sha256)}`),
  get: (id: string) => call<Image>("GET", `/v1/images/${encodeURIComponent(id)}`),
  update: (id: string, changes: Partial<Pick<Image, "imageName" | "imageDescription" | "visibility">>) =>
    call<Image>("PATCH", `/v1/images/${encodeURIComponent(id)}`, changes),
  remove: (id: string) => call<void>("DELETE", `/v1/images/${encodeURIComponent(id)}`),
  link: (id: string, params: URLSearchParams) =>
    call<Link>("GET", `/v1/images/${encodeURIComponent(id)}/url?${params}`),
  createUser: (userName: string, userEmail: string) =>
    call<User>("POST", "/v1/users", { userName, userEmail }),
};

// A URL as the page can load it: the API hands out absolute URLs (its public base).
export function sameOriginIfPossible(url: string): string {
  try {
    const u = new URL(url, location.href);
    return u.origin === location.origin ? u.pathname + u.search : u.href;
  } catch {
    return url;
  }
}
