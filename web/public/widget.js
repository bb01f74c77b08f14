// @ts-check
// Supernet's widget loader: <script src="https://<coordinator>/widget.js" data-site="KEY" async></script>
// or <supernet-widget site="KEY"></supernet-widget>. It only places an iframe on the coordinator's
// origin and relays the iframe's events to the page as DOM events ("supernet:ready", "supernet:started",
// "supernet:stopped", "supernet:progress", "supernet:refused"), checking the sender exactly.
(() => {
  const script = /** @type {HTMLScriptElement | null} */ (document.currentScript);
  const base = script ? new URL(script.src).origin : '';
  if (!base) return;

  /** @param {Element} where @param {string} site @param {boolean} inside */
  function mount(where, site, inside) {
    const frame = document.createElement('iframe');
    frame.src = `${base}/widget.html?site=${encodeURIComponent(site)}`;
    frame.title = 'Supernet: lend your GPU to earn credits for this site';
    // No `allow`: WebGPU needs no permission in a frame, and an `allow` the browser does not know
    // makes the host page log "Unrecognized feature".
    frame.style.cssText = 'border:1px solid #d0d5e2;border-radius:10px;width:360px;height:150px;max-width:100%;color-scheme:light';
    if (inside) where.append(frame);
    else where.after(frame);
    addEventListener('message', (e) => {
      // Only our iframe, from exactly our origin: never a look-alike, never another frame.
      if (e.origin !== base || e.source !== frame.contentWindow) return;
      const data = e.data;
      if (!data || data.source !== 'supernet-widget' || typeof data.type !== 'string') return;
      // The widget's own height, so that none of its controls is cut off.
      if (data.type === 'resize') return void (typeof data.height === 'number' && data.height > 0 && data.height < 1000 && (frame.style.height = `${data.height + 2}px`));
      where.dispatchEvent(new CustomEvent(`supernet:${data.type}`, { detail: data, bubbles: true, composed: true }));
    });
    return frame;
  }

  if (script && script.dataset.site) mount(script, script.dataset.site, false);
  if (!customElements.get('supernet-widget')) {
    customElements.define(
      'supernet-widget',
      class extends HTMLElement {
        connectedCallback() {
          const site = this.getAttribute('site');
          if (site && !this.querySelector('iframe')) mount(this, site, true);
        }
      },
    );
  }
})();
