// Starts the page: the app's wasm (Trunk writes the hashed file names into this script's tag,
// see Trunk.toml's `pattern_script`: no inline script, so the Content-Security-Policy needs no
// 'unsafe-inline'), then the service worker that makes the app work offline.
const tag = document.querySelector('script[data-app-js]');
const { default: init } = await import(tag.dataset.appJs);
await init({ module_or_path: tag.dataset.appWasm });
whenIdle().then(registerServiceWorker);

/** Resolves once no job has shown progress for two seconds: installing the service worker
 *  downloads and stores the whole build (about 35 MB), which would slow the first visit's demo. */
async function whenIdle() {
  for (let quiet = 0; quiet < 2;) {
    await new Promise((ok) => setTimeout(ok, 1000));
    quiet = document.getElementById('progress') ? 0 : quiet + 1;
  }
}

/** Registers `sw.js` (it precaches this build); when a newer build is installed and waiting,
 *  offers it with a "reload" button instead of swapping files under a running session. */
async function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) return;
  let asked = false;
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    // The first install also takes control (clients.claim): reload only when the user asked.
    if (asked) location.reload();
  });
  try {
    const registration = await navigator.serviceWorker.register('./sw.js');
    const offer = () => {
      const waiting = registration.waiting;
      if (!waiting || !navigator.serviceWorker.controller || document.getElementById('update-ready')) return;
      const bar = document.createElement('div');
      bar.id = 'update-ready';
      bar.setAttribute('role', 'status');
      bar.textContent = 'A new version of UNPIC is ready. ';
      const button = document.createElement('button');
      button.textContent = 'Reload';
      button.addEventListener('click', () => {
        asked = true;
        waiting.postMessage('skip-waiting');
      });
      bar.append(button);
      document.body.prepend(bar);
    };
    offer();
    registration.addEventListener('updatefound', () => {
      const installing = registration.installing;
      installing?.addEventListener('statechange', () => {
        if (installing.state === 'installed') offer();
      });
    });
  } catch (error) {
    console.warn(`UNPIC will not work offline: the service worker did not register (${error})`);
  }
}
