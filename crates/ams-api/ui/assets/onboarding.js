// A brand's onboarding page keeps its checklist current: it asks the server for the checklist
// (the API's, through the session) every few seconds and redraws the status, the next step,
// the subscriptions and the data received, without reloading (a half-filled form survives).
(function () {
  "use strict";
  var box = document.getElementById("checklist");
  if (!box) return;
  var src = box.getAttribute("data-src");
  function cell(text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text == null ? "" : String(text);
    return td;
  }
  function fill(tbody, rows, empty, cols) {
    tbody.replaceChildren();
    if (rows.length === 0) {
      var tr = document.createElement("tr");
      var td = cell(empty, "empty");
      td.colSpan = cols;
      tr.appendChild(td);
      tbody.appendChild(tr);
    }
    rows.forEach(function (r) { tbody.appendChild(r); });
  }
  function draw(c) {
    var status = document.getElementById("status");
    status.textContent = c.status;
    status.className = "status-" + c.status;
    document.getElementById("next-step").textContent = c.next_step || "none: data is arriving.";
    var subs = (c.subscriptions || []).map(function (s) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-dataset", s.dataset);
      tr.setAttribute("data-status", s.status);
      tr.appendChild(cell(s.dataset));
      tr.appendChild(cell(s.marketplace || s.advertiser_id));
      var st = cell("");
      var tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = s.status;
      st.appendChild(tag);
      tr.appendChild(st);
      tr.appendChild(cell(s.last_error || "", "error"));
      return tr;
    });
    fill(document.querySelector("#subscriptions tbody"), subs, "None yet.", 4);
    var data = Object.keys(c.data || {}).sort().map(function (name) {
      var d = c.data[name];
      var tr = document.createElement("tr");
      tr.setAttribute("data-dataset", name);
      tr.appendChild(cell(name));
      tr.appendChild(cell(d.records_committed, "num"));
      tr.appendChild(cell(d.first_received_at || ""));
      tr.appendChild(cell(d.last_received_at || ""));
      return tr;
    });
    fill(document.querySelector("#data tbody"), data, "Nothing received yet.", 4);
  }
  function tick() {
    fetch(src, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (c) { if (c) draw(c); })
      .catch(function () {})
      .then(function () { setTimeout(tick, 3000); });
  }
  setTimeout(tick, 3000);
})();
