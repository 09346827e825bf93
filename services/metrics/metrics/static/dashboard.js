// Metrics dashboard: reads the service's /api with a bearer token, draws charts and tables.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = "wa-metrics-token";

  // [field, label] of the daily table and the KPI cards, in display order.
  const DAILY_FIELDS = [
    ["conversations", "Conversations"], ["messages_in", "Messages in"],
    ["messages_out_bot", "Out (bot)"], ["messages_out_human", "Out (human)"],
    ["resolved_by_ai", "Resolved by AI"], ["resolved_by_human", "Resolved by human"],
    ["human_takeovers", "Takeovers"], ["response_time_avg_ms", "Avg response (ms)"],
    ["response_time_p90_ms", "p90 response (ms)"], ["resolution_time_avg_ms", "Avg resolution (ms)"],
    ["followups_sent", "Follow-ups sent"], ["followups_converted", "Follow-ups converted"],
    ["cost_usd", "Cost (USD)"],
  ];
  const KPI_FIELDS = DAILY_FIELDS.concat([["failed_sends", "Failed sends"]]);

  // [key, label, value from the turn-quality sums] of the reply-quality cards
  const ratio = (a, b, digits) => (b ? (a / b).toFixed(digits) : null);
  const percent = (a, b) => (b ? `${Math.round((100 * a) / b)}%` : null);
  const QUALITY_FIELDS = [
    ["quality_turns", "AI turns", (t) => t.quality_turns],
    ["grounded_rate", "Grounded in the knowledge base", (t) => percent(t.quality_grounded, t.quality_judged)],
    ["passages_per_turn", "Passages per turn", (t) => ratio(t.quality_passages, t.quality_turns, 1)],
    ["repeated_rate", "Customer repeated information", (t) => percent(t.quality_repeated, t.quality_turns)],
    ["tokens_per_turn", "Tokens per turn",
      (t) => ratio(t.quality_tokens_in + t.quality_tokens_out, t.quality_turns, 0)],
    ["cost_brl_per_turn", "Cost per turn (R$)", (t) => ratio(Number(t.quality_cost_brl), t.quality_turns, 4)],
  ];

  const state = { token: null, who: null, charts: {} };

  function show(el, visible) { el.hidden = !visible; }

  function fmt(field, value) {
    if (value === null || value === undefined) return "–";
    if (field === "cost_usd") return Number(value).toFixed(6);
    return String(value);
  }

  function isoDay(d) {
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  }

  function daysBetween(from, to) {
    const out = [];
    const d = new Date(`${from}T00:00:00Z`);
    const end = new Date(`${to}T00:00:00Z`);
    while (d <= end) { out.push(d.toISOString().slice(0, 10)); d.setUTCDate(d.getUTCDate() + 1); }
    return out;
  }

  function setError(message) {
    $("error").textContent = message || "";
    show($("error"), Boolean(message));
  }

  async function api(path) {
    const res = await fetch(path, { headers: { Authorization: `Bearer ${state.token}` } });
    if (res.status === 401) throw new Error("Token not accepted.");
    if (!res.ok) throw new Error(`Request failed (${res.status}).`);
    return res.json();
  }

  function cell(tag, text, attrs) {
    const el = document.createElement(tag);
    el.textContent = text;
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    return el;
  }

  function fillBody(table, rows) {
    const body = table.querySelector("tbody");
    body.replaceChildren(...rows);
  }

  function renderKpis(totals, p90) {
    const merged = Object.assign({}, totals, { response_time_p90_ms: p90 });
    merged.failed_sends = totals.failed_total;
    const cards = KPI_FIELDS.map(([field, label]) => {
      const card = cell("div", "", { class: "kpi" });
      card.append(cell("span", label, { class: "label" }));
      card.append(cell("span", fmt(field, merged[field]), { class: "value", "data-total": field }));
      return card;
    });
    $("kpis").replaceChildren(...cards);
  }

  function renderDaily(days, byDay) {
    const head = $("daily-table").querySelector("thead tr");
    head.replaceChildren(cell("th", "Day"), ...DAILY_FIELDS.map(([, label]) => cell("th", label)));
    const rows = days.map((day) => {
      const row = cell("tr", "", { "data-day": day });
      const data = byDay.get(day);
      row.append(cell("td", day));
      for (const [field] of DAILY_FIELDS) {
        // a day without a row had no events: zero counts, no latency
        const value = data ? data[field] : (field.endsWith("_ms") ? null : 0);
        row.append(cell("td", fmt(field, value), { "data-field": field }));
      }
      return row;
    });
    fillBody($("daily-table"), rows);
  }

  function renderMaps(tools, toolErrors, failed) {
    const toolRows = Object.entries(tools || {}).sort((a, b) => b[1] - a[1]).map(([name, n]) => {
      const row = cell("tr", "", { "data-tool": name });
      row.append(cell("td", name), cell("td", String(n)), cell("td", String((toolErrors || {})[name] || 0)));
      return row;
    });
    fillBody($("tools-table"), toolRows);
    const failedRows = Object.entries(failed || {}).sort((a, b) => b[1] - a[1]).map(([code, n]) => {
      const row = cell("tr", "", { "data-code": code });
      row.append(cell("td", code), cell("td", String(n)));
      return row;
    });
    fillBody($("failed-table"), failedRows);
  }

  function countRows(counts, attr) {
    return Object.entries(counts || {}).sort((a, b) => b[1] - a[1]).map(([key, n]) => {
      const row = cell("tr", "", { [attr]: key });
      row.append(cell("td", key), cell("td", String(n)));
      return row;
    });
  }

  function renderQuality(totals, silent, handovers) {
    const cards = QUALITY_FIELDS.map(([key, label, value]) => {
      const card = cell("div", "", { class: "kpi" });
      const shown = totals.quality_turns === undefined ? null : value(totals);
      card.append(cell("span", label, { class: "label" }));
      card.append(cell("span", shown === null ? "–" : String(shown), { class: "value", "data-quality": key }));
      return card;
    });
    $("quality-kpis").replaceChildren(...cards);
    fillBody($("silent-table"), countRows(silent, "data-silent"));
    fillBody($("handover-table"), countRows(handovers, "data-handover"));
  }

  function renderTenants(tenants) {
    const table = $("tenants-table");
    show(table, Boolean(tenants));
    if (!tenants) return;
    const fields = ["conversations", "messages_in", "messages_out_bot", "messages_out_human",
      "resolved_by_ai", "resolved_by_human", "human_takeovers", "cost_usd"];
    fillBody(table, tenants.map((t) => {
      const row = cell("tr", "", { "data-client": t.client_id });
      row.append(cell("td", t.name || t.client_id));
      for (const f of fields) row.append(cell("td", fmt(f, t.totals[f]), { "data-field": f }));
      return row;
    }));
  }

  function chart(id, type, labels, datasets) {
    if (state.charts[id]) state.charts[id].destroy();
    if (typeof Chart === "undefined") return;
    state.charts[id] = new Chart($(id), {
      type, data: { labels, datasets },
      options: { animation: false, responsive: true, interaction: { mode: "index", intersect: false } },
    });
  }

  function renderCharts(days, byDay) {
    const series = (field) => days.map((d) => {
      const v = (byDay.get(d) || {})[field];
      return v === undefined ? (field.endsWith("_ms") ? null : 0) : v;
    });
    chart("chart-messages", "line", days, [
      { label: "In", data: series("messages_in") },
      { label: "Out (bot)", data: series("messages_out_bot") },
      { label: "Out (human)", data: series("messages_out_human") },
    ]);
    chart("chart-resolutions", "bar", days, [
      { label: "Conversations", data: series("conversations") },
      { label: "Resolved by AI", data: series("resolved_by_ai") },
      { label: "Resolved by human", data: series("resolved_by_human") },
      { label: "Takeovers", data: series("human_takeovers") },
    ]);
    chart("chart-response", "line", days, [
      { label: "Average", data: series("response_time_avg_ms") },
      { label: "p90", data: series("response_time_p90_ms") },
    ]);
    chart("chart-cost", "bar", days, [{ label: "USD", data: series("cost_usd").map(Number) }]);
  }

  function failedTotal(failed) {
    return Object.values(failed || {}).reduce((a, b) => a + Number(b), 0);
  }

  async function load(event) {
    if (event) event.preventDefault();
    setError("");
    const from = $("from").value;
    const to = $("to").value;
    const tenant = state.who.role === "operator" ? $("tenant").value : state.who.client_id;
    $("status").textContent = "Loading…";
    try {
      const q = `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
      let data;
      if (tenant) {
        data = await api(`/api/clients/${encodeURIComponent(tenant)}/metrics/daily?${q}`);
        data.totals.failed_total = failedTotal(data.failed_sends);
        renderKpis(data.totals, data.response_time_p90_ms);
        renderMaps(data.tools_used, data.tool_errors, data.failed_sends);
        renderTenants(null);
        const name = state.who.role === "operator"
          ? $("tenant").selectedOptions[0].textContent : (state.who.name || tenant);
        $("report-title").textContent = `${name}: ${from} to ${to}`;
      } else {
        data = await api(`/api/metrics/daily?${q}`);
        data.totals.failed_total = null;
        renderKpis(data.totals, null);
        renderMaps({}, {}, {});
        renderTenants(data.tenants);
        $("report-title").textContent = `All tenants: ${from} to ${to}`;
      }
      renderQuality(data.totals, data.silent_reasons, data.handover_categories);
      const days = daysBetween(from, to);
      const byDay = new Map(data.series.map((row) => [row.day, row]));
      renderDaily(days, byDay);
      renderCharts(days, byDay);
      show($("report"), true);
      $("status").textContent = "";
      document.body.dataset.loaded = `${tenant || "all"}:${from}:${to}`;
    } catch (err) {
      $("status").textContent = "";
      setError(err.message);
    }
  }

  async function signIn(event) {
    if (event) event.preventDefault();
    setError("");
    state.token = $("token").value.trim() || sessionStorage.getItem(TOKEN_KEY);
    if (!state.token) return;
    try {
      state.who = await api("/api/whoami");
    } catch (err) {
      state.token = null;
      sessionStorage.removeItem(TOKEN_KEY);
      setError(err.message);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, state.token);
    $("token").value = "";
    $("who").textContent = state.who.role === "operator" ? "Operator" : `Tenant: ${state.who.name}`;
    show($("sign-out"), true);
    show($("controls"), true);
    const operator = state.who.role === "operator";
    show($("tenant-label"), operator);
    if (operator) {
      const tenants = await api("/api/metrics/tenants");
      const options = tenants.map((t) => cell("option", t.name, { value: t.client_id }));
      $("tenant").replaceChildren(cell("option", "All tenants", { value: "" }), ...options);
    }
    await load();
  }

  function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    window.location.reload();
  }

  function init() {
    const today = new Date();
    const start = new Date(today);
    start.setDate(start.getDate() - 29);
    $("from").value = isoDay(start);
    $("to").value = isoDay(today);
    $("login").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", signOut);
    $("controls").addEventListener("submit", load);
    $("token").required = !sessionStorage.getItem(TOKEN_KEY);
    if (sessionStorage.getItem(TOKEN_KEY)) signIn();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
