// Live network figures on the home page, from GET /api/stats every few seconds.
const fields = ['nodes', 'gflops', 'queue', 'verified'] as const;

async function refresh() {
  try {
    const res = await fetch('/api/stats');
    if (!res.ok) return;
    const stats = (await res.json()) as { nodesOnline: number; gflops: number; unitsQueued: number; unitsVerified: number };
    const values = [stats.nodesOnline, stats.gflops.toFixed(1), stats.unitsQueued, stats.unitsVerified];
    fields.forEach((id, i) => (document.getElementById(id)!.textContent = String(values[i])));
  } catch {
    // offline for a moment: keep the last figures
  }
}

void refresh();
setInterval(refresh, 3000);
