// The editor's service worker: caches the page, its scripts, the wasm runtime and the model on install,
// then answers from the cache first, so the editor works offline after one visit. The cache name
// carries a hash of every file (written in by mleditor/browser/site.py): a new site gets a new cache
// and the old ones are deleted on activation. If the device's storage is full, the pages are told
// (a message the page shows) and the editor keeps working online.
const CACHE = "mleditor-editor-{{version}}";
const FILES = {{files}};

async function tell(message) {
  for (const client of await self.clients.matchAll({ includeUncontrolled: true, type: "window" })) {
    client.postMessage(message);
  }
}

function problem(error) {
  const full = error && (error.name === "QuotaExceededError" || /quota/i.test(String(error.message)));
  return { type: full ? "storage-full" : "cache-failed", message: String(error && error.message || error) };
}

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    try {
      const cache = await caches.open(CACHE);
      await cache.addAll(FILES);
    } catch (error) {
      await caches.delete(CACHE);
      await tell(problem(error));
      throw error;  // not installed: the page keeps working online
    }
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("mleditor-editor-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET" || new URL(request.url).origin !== self.location.origin) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const found = await cache.match(request, { ignoreSearch: true });
    if (found) return found;
    const response = await fetch(request);
    if (response.ok && new URL(request.url).pathname.startsWith(new URL("./", self.location).pathname)) {
      try {
        await cache.put(request, response.clone());
      } catch (error) {
        await tell(problem(error));
      }
    }
    return response;
  })());
});
