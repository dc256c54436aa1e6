// The performance chart: spend and sales (bars of money) and ROAS (a line on its own axis),
// drawn with uPlot from the JSON the page embeds. Without JavaScript the page still has the
// totals and the table.
(function () {
  "use strict";
  var el = document.getElementById("chart");
  var data = document.getElementById("series");
  if (!el || !data || typeof uPlot === "undefined") return;
  var s = JSON.parse(data.textContent || "{}");
  if (!s.t || s.t.length === 0) {
    // The table's message says where the data is (with a link): the chart says the same.
    var none = document.getElementById("no-data");
    if (none) { el.replaceChildren.apply(el, Array.prototype.map.call(none.childNodes, function (n) {
      var c = n.cloneNode(true);
      if (c.nodeType === 1) c.removeAttribute("id");
      return c;
    })); }
    else { el.textContent = "No data in this range."; }
    return;
  }
  var money = new Intl.NumberFormat(undefined, { style: "currency", currency: s.currency || "USD" });
  var opts = {
    width: Math.max(320, el.clientWidth || 900),
    height: 320,
    // The times are the marketplace's wall-clock hours, sent as if UTC: shown as they are.
    tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); },
    // The x axis spans the range asked for: left to itself, uPlot stretches a single day's
    // point over years.
    scales: {
      x: s.from != null ? { time: true, range: function () { return [s.from, s.to]; } } : { time: true },
      // Money from zero: an axis starting at the smallest day exaggerates small changes.
      y: { range: function (u, min, max) { return [Math.min(0, min), max > 0 ? max * 1.1 : 1]; } },
      roas: { auto: true }
    },
    series: [
      {},
      { label: "Spend", stroke: "#0b6bcb", width: 2, value: function (u, v) { return v == null ? "" : money.format(v); } },
      { label: "Sales", stroke: "#067647", width: 2, value: function (u, v) { return v == null ? "" : money.format(v); } },
      { label: "ROAS", stroke: "#b54708", width: 1.5, dash: [4, 4], scale: "roas", value: function (u, v) { return v == null ? "" : v.toFixed(2); } }
    ],
    // Once drawn, the x scale's span is on the element (the browser test reads it).
    hooks: {
      ready: [function (u) {
        el.setAttribute("data-x-min", String(u.scales.x.min));
        el.setAttribute("data-x-max", String(u.scales.x.max));
        el.setAttribute("data-drawn", "true");
      }]
    },
    axes: [
      {},
      { values: function (u, vals) { return vals.map(function (v) { return money.format(v); }); }, size: 80 },
      { side: 1, scale: "roas", grid: { show: false } }
    ]
  };
  var plot = new uPlot(opts, [s.t, s.cost, s.sales, s.roas], el);

  window.addEventListener("resize", function () { plot.setSize({ width: Math.max(320, el.clientWidth), height: 320 }); });
})();
