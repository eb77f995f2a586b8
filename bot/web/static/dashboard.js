// Swaps in the table after each collection cycle without a reload. The table itself is
// server-rendered (and escaped there); this only asks for it again. The server answers
// 304 while nothing changed, so a quiet market costs a few bytes per poll.
"use strict";
(function () {
  const live = document.getElementById("live");
  if (!live) return;
  const src = live.dataset.src;
  const every = Math.max(1, Number(live.dataset.refresh) || 15) * 1000;
  let last = null;
  async function poll() {
    try {
      const answer = await fetch(src, { cache: "no-cache", headers: { Accept: "text/html" } });
      if (answer.ok) {
        const html = await answer.text();
        if (last !== null && html !== last) live.innerHTML = html;
        last = html;
        live.dataset.updated = new Date().toISOString();
      }
    } catch (_) {
      // Offline for a moment: the next poll tries again.
    }
    window.setTimeout(poll, every);
  }
  poll();
})();
