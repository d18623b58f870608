vcl 4.1;
# imgd's reference edge: Varnish 7.1 + varnish-modules (xkey). deploy/edge/start fills the
# @@...@@ placeholders (backends, purge ACL and token) and runs it; see deploy/edge/README.md.
#
# What it does:
# - caches image content (GET/HEAD /v1/images/{id}/content) under a key without noise: the
#   query sorted, tracking parameters dropped, the Host ignored; everything else passes;
# - coalesces concurrent misses for one object into one origin fetch (Varnish's waiting
#   list), and serves a stale copy while it revalidates (10 s) or while the origin is sick
#   (grace: 1 day);
# - probes the origin's /readyz, so a sick origin is skipped at once, and answers a miss it
#   cannot fetch with a problem+json 503 and Retry-After;
# - drops every copy tagged with a surrogate key on an authorised PURGE (imgd's outbox sends
#   one per image when it is deleted or made private): a hard purge, so grace never serves
#   a purged copy.

import std;
import xkey;
import directors;

@@BACKENDS@@

acl imgd_purgers {
@@PURGE_ACL@@
}

sub vcl_init {
  new origin = directors.fallback();
@@DIRECTOR_ADD@@
}

sub vcl_recv {
  set req.backend_hint = origin.backend();
  if (req.url == "/edge-healthz") {
    # This edge itself (what an edge in front of it probes when it is a shield).
    return (synth(200, "ok"));
  }

  if (req.method == "PURGE") {
    if (client.ip !~ imgd_purgers || req.http.X-Purge-Token != "@@PURGE_TOKEN@@") {
      return (synth(403, "purge not allowed from this client"));
    }
    if (!req.http.xkey-purge) {
      return (synth(400, "a purge needs the xkey-purge header"));
    }
    set req.http.X-Purged = xkey.purge(req.http.xkey-purge);
    return (synth(200, "purged"));
  }

  if (req.url !~ "^/v1/images/[^/?]+/content(\?|$)" || (req.method != "GET" && req.method != "HEAD")) {
    return (pass);
  }
  # Content needs no cookie; the owner's key (Authorization) reads past the cache (builtin).
  unset req.http.Cookie;
  # Noise out of the cache key: tracking parameters, then the parameters' order.
  set req.url = regsuball(req.url, "([?&])(utm_[a-z]+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|_ga|_gl)=[^&]*", "\1");
  set req.url = regsuball(req.url, "[?&]+$", "");
  set req.url = regsub(req.url, "\?&+", "?");
  set req.url = regsuball(req.url, "&&+", "&");
  set req.url = std.querysort(req.url);
  # format=auto answers depend on Accept (imgd says Vary: Accept). Browsers send dozens of
  # Accept spellings; reduced to the three formats imgd chooses between, the cache holds at
  # most three copies of a URL. Other URLs name their bytes fully: Accept is dropped.
  if (req.url ~ "[?&]format=auto(&|$)") {
    if (req.http.Accept ~ "(?i)image/avif(?!\s*;\s*q\s*=\s*0(\.0*)?\s*(,|$))") {
      set req.http.Accept = "image/avif";
    } elsif (req.http.Accept ~ "(?i)image/webp(?!\s*;\s*q\s*=\s*0(\.0*)?\s*(,|$))") {
      set req.http.Accept = "image/webp";
    } else {
      set req.http.Accept = "image/jpeg";
    }
  } else {
    unset req.http.Accept;
  }

  # A healthy origin: a stale copy is served for 10 s while a fresh one is fetched. A sick
  # one: the whole grace.
  if (std.healthy(req.backend_hint)) {
    set req.grace = 10s;
  }
}

sub vcl_hash {
  hash_data(req.url);
  return (lookup);
}

sub vcl_backend_fetch {
  # Tells a shield (another edge) to keep the surrogate-key headers on its answer.
  set bereq.http.X-Imgd-Edge = "1";
}

sub vcl_backend_response {
  if (beresp.http.Surrogate-Key && !beresp.http.xkey) {
    set beresp.http.xkey = beresp.http.Surrogate-Key;
  }
  if (beresp.status == 404) {
    # A deleted image: short, so an id is never stuck.
    set beresp.ttl = 10s;
    set beresp.grace = 0s;
    return (deliver);
  }
  if (beresp.status >= 500) {
    set beresp.uncacheable = true;
    set beresp.ttl = 0s;
    return (deliver);
  }
  set beresp.grace = 1d;
  # Expired copies stay a day more for conditional revalidation (If-None-Match → 304).
  set beresp.keep = 1d;
}

sub vcl_backend_error {
  set beresp.http.Content-Type = "application/problem+json";
  set beresp.http.Retry-After = "5";
  set beresp.http.Cache-Control = "no-store";
  set beresp.body = {"{"type":"/problems/origin-unavailable","title":"Service Unavailable","detail":"the edge has no copy and cannot reach the origin; retry shortly","status":503}"};
  set beresp.status = 503;
  return (deliver);
}

sub vcl_deliver {
  if (!req.http.X-Imgd-Edge) {
    unset resp.http.xkey;
    unset resp.http.Surrogate-Key;
  }
  if (obj.hits > 0) {
    set resp.http.X-Cache = "HIT";
  } else {
    set resp.http.X-Cache = "MISS";
  }
}

sub vcl_synth {
  if (req.url == "/edge-healthz" && resp.status == 200) {
    set resp.http.Content-Type = "text/plain";
    set resp.body = "ok";
    return (deliver);
  }
  if (req.method == "PURGE" && resp.status == 200) {
    set resp.http.Content-Type = "application/json";
    set resp.body = {"{"purged":"} + req.http.X-Purged + "}";
    return (deliver);
  }
  set resp.http.Content-Type = "application/problem+json";
  set resp.body = {"{"type":"about:blank","detail":""} + resp.reason + {"","status":"} + resp.status + "}";
  return (deliver);
}
