"use strict";
// Draws the report's charts with the vendored Chart.js from the series the
// server computed (data-series on #datos-graficos). The same figures are in
// the page's tables, so nothing is told by the charts alone.
(function () {
  const holder = document.getElementById("datos-graficos");
  if (!holder || typeof Chart === "undefined") return;
  const data = JSON.parse(holder.dataset.series);
  // Distinguishable without colour too: each queue also gets its own point style.
  const colours = ["#0b4f8a", "#a4000f", "#1e5e2a", "#7a4a00", "#5a2d82", "#00606b"];
  const points = ["circle", "rect", "triangle", "rectRot", "cross", "star"];
  const common = { responsive: true, maintainAspectRatio: false, animation: false };

  function lines(id, sets, max) {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    new Chart(canvas, {
      type: "line",
      data: {
        labels: data.days,
        datasets: sets.map((s, i) => ({
          label: s.label, data: s.data, borderColor: colours[i % colours.length],
          backgroundColor: colours[i % colours.length], pointStyle: points[i % points.length],
          pointRadius: 4, spanGaps: true,
        })),
      },
      options: { ...common, scales: { y: { min: 0, max: max } } },
    });
  }

  function bars(id, labels, values, label) {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    new Chart(canvas, {
      type: "bar",
      data: { labels: labels, datasets: [{ label: label, data: values, backgroundColor: colours[0] }] },
      options: { ...common, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
  }

  lines("g-nivel", data.service_level, 100);
  lines("g-abandono", data.abandon, 100);
  bars("g-hora", data.hours, data.by_hour, "Ofrecidas");
  bars("g-semana", data.weekdays, data.by_weekday, "Ofrecidas");
  holder.dataset.drawn = "true";
})();
