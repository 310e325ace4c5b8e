// Live endpoint metrics: poll the cumulative counters and plot what changed between polls.
(function () {
  const box = document.getElementById("live");
  if (!box) return;
  const url = box.dataset.metricsUrl;
  const every = 3000;
  const status = document.getElementById("live-status");
  let last = null;
  const empty = (name) => ({ x: [], y: [], mode: "lines+markers", name: name });
  const layout = (title, unit) => ({
    title: { text: title, font: { size: 14 } }, height: 280,
    margin: { t: 40, b: 40, l: 55, r: 20 }, yaxis: { title: { text: unit }, rangemode: "tozero" },
  });
  Plotly.newPlot("plot-rate", [empty("requests/s"), empty("errors/s")], layout("Request rate", "req/s"), { displaylogo: false });
  Plotly.newPlot("plot-latency", [empty("mean"), empty("p50"), empty("p95")], layout("Latency (replica)", "ms"), { displaylogo: false });

  function quantile(prev, cur, q) {
    // Histogram buckets are cumulative; take this interval's counts and find the bucket of q.
    const before = new Map(prev.map(([le, n]) => [le, n]));
    const delta = cur.map(([le, n]) => [le, n - (before.get(le) || 0)]);
    const total = delta.length ? delta[delta.length - 1][1] : 0;
    if (!total) return null;
    for (const [le, n] of delta) if (n >= q * total) return le * 1000;
    return delta[delta.length - 1][0] * 1000;
  }

  async function poll() {
    try {
      const resp = await fetch(url, { credentials: "same-origin" });
      const m = await resp.json();
      if (!resp.ok || m.error) { status.textContent = "metrics: " + (m.detail || m.error); return; }
      const now = new Date();
      status.textContent = "updated " + now.toLocaleTimeString() + " — " + m.requests + " requests in total";
      if (last) {
        const dt = (now - last.t) / 1000;
        const n = m.latency_count - last.m.latency_count;
        const mean = n > 0 ? (1000 * (m.latency_sum - last.m.latency_sum)) / n : null;
        Plotly.extendTraces("plot-rate", { x: [[now], [now]], y: [[(m.requests - last.m.requests) / dt], [(m.errors - last.m.errors) / dt]] }, [0, 1], 200);
        Plotly.extendTraces("plot-latency", { x: [[now], [now], [now]], y: [[mean], [quantile(last.m.buckets, m.buckets, 0.5)], [quantile(last.m.buckets, m.buckets, 0.95)]] }, [0, 1, 2], 200);
      }
      last = { t: now, m: m };
    } catch (e) {
      status.textContent = "metrics not reachable: " + e;
    }
  }
  poll();
  setInterval(poll, every);
})();
