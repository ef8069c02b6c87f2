"use strict";
// The live page: the start form, the controls, and once a second the server-rendered
// headline and report sections (the report's own renderer) from the snapshot stream.
(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("start-form");
  let model = "closed";
  let state = "waiting";
  let showForm = true;
  let lastReport = "";
  let sort = null; // {table, column, dir}

  function message(text) {
    $("message").textContent = text || "";
    $("message").hidden = !text;
  }

  async function post(path, body) {
    const res = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.error || res.status + " " + res.statusText);
    return data;
  }

  function setModel(m) {
    model = m;
    form.querySelectorAll("input[name=model]").forEach((r) => { r.checked = r.value === m; });
    form.querySelectorAll("label.closed").forEach((l) => { l.hidden = m !== "closed"; });
    form.querySelectorAll("label.open").forEach((l) => { l.hidden = m !== "open"; });
  }

  function checkboxes(fieldset, name, values, checked) {
    for (const v of values) {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.name = name;
      box.value = v;
      box.checked = checked(v);
      label.append(box, " " + v);
      fieldset.append(label);
    }
  }

  async function loadInfo() {
    const info = await (await fetch("/api/info")).json();
    const s = info.scenario;
    $("scenario").textContent = s.name;
    document.title = "cicada: " + s.name;
    const d = s.defaults;
    for (const k of ["users", "spawn_rate", "rate", "host", "run_time"]) {
      if (d[k] !== undefined && d[k] !== null) form.elements[k].value = d[k];
    }
    setModel(s.model);
    checkboxes($("user-types"), "user_types", s.user_types.map((u) => u.name), () => true);
    $("user-types").hidden = s.user_types.length < 2;
    const picked = d.tags || [];
    checkboxes($("tags"), "tags", s.tags, (t) => picked.includes(t));
    $("tags").hidden = s.tags.length === 0;
  }

  function startRequest() {
    const f = form.elements;
    const num = (name) => (f[name].value.trim() === "" ? undefined : Number(f[name].value));
    const req = { host: f.host.value.trim() || undefined, run_time: f.run_time.value.trim() || undefined };
    if (model === "open") {
      req.rate = num("rate");
    } else {
      req.users = num("users");
      req.spawn_rate = num("spawn_rate");
    }
    const types = [...form.querySelectorAll("input[name=user_types]")];
    if (types.length > 1) req.user_types = types.filter((b) => b.checked).map((b) => b.value);
    const tags = [...form.querySelectorAll("input[name=tags]")];
    if (tags.length) req.tags = tags.filter((b) => b.checked).map((b) => b.value);
    return req;
  }

  form.addEventListener("change", (e) => {
    if (e.target.name === "model") setModel(e.target.value);
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    message("");
    try {
      await post("/api/start", startRequest());
      showForm = false;
      lastReport = "";
      sort = null;
      render({ state: "running" });
    } catch (err) {
      message("Could not start: " + err.message);
    }
  });
  $("steer-users").addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { users: Number($("ctl-users").value) };
    if ($("ctl-spawn").value !== "") body.spawn_rate = Number($("ctl-spawn").value);
    try { await post("/api/users", body); message(""); } catch (err) { message(err.message); }
  });
  $("steer-rate").addEventListener("submit", async (e) => {
    e.preventDefault();
    try { await post("/api/rate", { rate: Number($("ctl-rate").value) }); message(""); } catch (err) { message(err.message); }
  });
  $("stop").addEventListener("click", async () => {
    try { await post("/api/stop"); } catch (err) { message(err.message); }
  });
  $("reset").addEventListener("click", async () => {
    try { await post("/api/reset"); } catch (err) { message(err.message); }
  });
  $("new-test").addEventListener("click", () => {
    showForm = true;
    render({ state });
  });

  // Sortable tables: click a header; the order is kept across the per-second refreshes.
  function cellValue(td) {
    const text = td.textContent.trim();
    const n = Number(text.replace(/,/g, "").replace(/[%\s]|ms$/g, ""));
    return text === "–" ? -Infinity : Number.isNaN(n) ? text.toLowerCase() : n;
  }
  function applySort() {
    if (!sort) return;
    const table = $("report").querySelectorAll("table")[sort.table];
    if (!table || !table.tBodies[0]) return;
    const rows = [...table.tBodies[0].rows];
    const sign = sort.dir === "asc" ? 1 : -1;
    rows.sort((a, b) => {
      const x = cellValue(a.cells[sort.column] || a.cells[0]);
      const y = cellValue(b.cells[sort.column] || b.cells[0]);
      return (x < y ? -1 : x > y ? 1 : 0) * sign;
    });
    rows.forEach((r) => table.tBodies[0].append(r));
    table.tHead.rows[0].cells[sort.column].dataset.sort = sort.dir;
  }
  $("report").addEventListener("click", (e) => {
    const th = e.target.closest("thead th");
    if (!th) return;
    const table = [...$("report").querySelectorAll("table")].indexOf(th.closest("table"));
    const column = th.cellIndex;
    const dir = sort && sort.table === table && sort.column === column && sort.dir === "desc" ? "asc" : "desc";
    th.closest("thead").querySelectorAll("th").forEach((h) => delete h.dataset.sort);
    sort = { table, column, dir };
    applySort();
  });

  // Values on hover: the point of a chart's series nearest the pointer, with its <title>.
  const tip = document.createElement("div");
  tip.className = "hover-tip";
  tip.hidden = true;
  document.body.append(tip);
  $("report").addEventListener("mousemove", (e) => {
    const t = e.target.closest("svg.chart [data-v], svg.chart circle, svg.chart rect.band");
    const title = t && t.querySelector("title");
    if (!title) { tip.hidden = true; return; }
    tip.textContent = title.textContent;
    tip.style.left = e.clientX + 12 + "px";
    tip.style.top = e.clientY + 12 + "px";
    tip.hidden = false;
  });

  // The sticky headline sits right under the bar, however high the bar wraps.
  function stickHeadline() {
    $("headline").style.top = document.querySelector(".bar").offsetHeight + "px";
  }
  window.addEventListener("resize", stickHeadline);

  function render(s) {
    state = s.state;
    const el = $("state");
    el.textContent = state;
    el.dataset.state = state;
    const live = state === "running";
    const open = s.model === "open";
    $("steer-users").hidden = !live || open;
    $("steer-rate").hidden = !live || !open;
    $("stop").hidden = !live;
    $("reset").hidden = !live;
    $("new-test").hidden = state !== "stopped" || showForm;
    $("downloads").hidden = state === "waiting";
    $("start-panel").hidden = !(state === "waiting" || (state === "stopped" && showForm));
    $("live").hidden = state === "waiting" && !s.html;
    if (s.elapsed_s !== undefined && state !== "waiting") {
      $("elapsed").textContent = "run " + s.run + " · " + Math.round(s.elapsed_s) + " s";
    }
    if (live && document.activeElement !== $("ctl-users")) $("ctl-users").placeholder = s.users;
    if (s.html) {
      $("headline").innerHTML = s.html.headline;
      stickHeadline();
      if (s.html.report !== lastReport) {
        lastReport = s.html.report;
        $("report").innerHTML = s.html.report;
        applySort();
      }
    }
  }

  loadInfo().catch((err) => message("Cannot read the scenario: " + err.message));
  const stream = new EventSource("/api/stream?html=true");
  stream.addEventListener("snapshot", (e) => {
    const s = JSON.parse(e.data);
    if (s.state === "running" || s.state === "stopping") showForm = false;
    render(s);
  });
  stream.onerror = () => { $("state").textContent = "disconnected"; };
})();
