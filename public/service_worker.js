// The service worker's body. `scripts/precache.sh` (Trunk's post_build hook) writes dist/sw.js:
// `VERSION` (a hash of every file of the build) and `FILES` (their paths) followed by this.
// Offline first: every file of one build is served from that build's cache, so a page never
// mixes files of two versions; a new build is fetched in the background and waits until the
// page's "Reload" (start.js) tells it to take over.
const CACHE = `unpic-${VERSION}`;
const SCOPE = new URL(self.registration.scope);

self.addEventListener('install', (event) => {
  // 'no-cache': revalidate with the server, never take a stale copy from the HTTP cache (the
  // worker's files keep their names across builds).
  event.waitUntil(caches.open(CACHE).then((cache) =>
    cache.addAll(FILES.map((path) => new Request(new URL(path, SCOPE), { cache: 'no-cache' })))));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('unpic-') && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('message', (event) => {
  if (event.data === 'skip-waiting') self.skipWaiting();
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== SCOPE.origin || !url.pathname.startsWith(SCOPE.pathname)) return;
  const path = url.pathname.slice(SCOPE.pathname.length);
  // The app's page at any query (`?backend=cpu`) is the cached index.html.
  const key = path === '' || (request.mode === 'navigate' && path === 'index.html')
    ? new URL('index.html', SCOPE)
    : new URL(path, SCOPE);
  event.respondWith((async () => {
    const cached = await caches.match(key, { cacheName: CACHE, ignoreSearch: true });
    return cached ?? fetch(request);
  })());
});
