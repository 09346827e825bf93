/* The console's own script: JSON forms, conversation actions, the reply box (drafts,
 * Idempotency-Key), the live stream (SSE as a signal to refetch fragments), alerts
 * (badge, sound, browser notification) and local time formatting. No framework: htmx
 * swaps the server-rendered fragments, this file decides when. */
(function () {
  "use strict";

  var body = document.body;
  var STRINGS = {};
  try {
    STRINGS = JSON.parse(document.getElementById("i18n").textContent || "{}");
  } catch (e) {
    STRINGS = {};
  }
  var LANG = document.documentElement.lang || "pt-BR";
  var USER = body.dataset.userId || "";
  var MAX_TEXT = 4096;

  function T(key, values) {
    var text = STRINGS[key] || key;
    if (values) {
      Object.keys(values).forEach(function (k) {
        text = text.split("{" + k + "}").join(String(values[k]));
      });
    }
    return text;
  }

  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }

  /* crypto.randomUUID exists only in secure contexts; phones on a LAN address are not one */
  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) {
      return (x + 0x100).toString(16).slice(1);
    }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  /* fetch with the session's CSRF token; resolves to {ok, status, data, headers}. A token
     gone stale (signed in again in another tab: new session, new token) is fetched anew
     and the request sent once more: the refused one changed nothing. */
  function api(method, url, payload, headers) {
    return send(method, url, payload, headers).then(function (res) {
      if (res.status !== 403 || method === "GET" || !/csrf/i.test(detailText(res))) { return res; }
      return send("GET", "/api/auth/me").then(function (me) {
        if (!me.ok || !me.data || !me.data.csrf_token) { return res; }
        setCsrf(me.data.csrf_token);
        return send(method, url, payload, headers);
      });
    });
  }

  function setCsrf(token) {
    var m = document.querySelector('meta[name="csrf-token"]');
    if (m) { m.setAttribute("content", token); }
    body.setAttribute("hx-headers", JSON.stringify({ "X-CSRF-Token": token }));
  }

  function send(method, url, payload, headers) {
    var init = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (method !== "GET") {
      init.headers["X-CSRF-Token"] = csrf();
    }
    Object.keys(headers || {}).forEach(function (k) { init.headers[k] = headers[k]; });
    if (payload instanceof FormData) {
      init.body = payload;
    } else if (payload !== undefined && payload !== null) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(payload);
    }
    return fetch(url, init).then(function (resp) {
      return resp.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = { detail: text }; }
        return { ok: resp.ok, status: resp.status, data: data, headers: resp.headers };
      });
    }, function () {
      return { ok: false, status: 0, data: null, headers: new Headers() };
    });
  }

  /* ---------- messages to the user ---------- */

  function flash(text) {
    var el = document.getElementById("flash");
    if (!el) { return; }
    el.textContent = text;
    el.hidden = !text;
    if (text) {
      clearTimeout(flash.timer);
      flash.timer = setTimeout(function () { el.hidden = true; }, 8000);
    }
  }

  function announce(text) {
    var el = document.getElementById("announcer");
    if (el) { el.textContent = ""; setTimeout(function () { el.textContent = text; }, 50); }
  }

  /* one sentence for any failed answer; field errors are placed by showErrors */
  function reason(res, context) {
    if (res.status === 0) { return T("error_network"); }
    if (res.status === 429) {
      var s = parseInt(res.headers.get("Retry-After") || "60", 10);
      return T("throttled", { s: isNaN(s) ? 60 : s });
    }
    if (res.status === 401 && context === "login") { return detailText(res) || T("login_failed"); }
    if (res.status === 401) { return T("session_expired"); }
    var d = detailText(res);
    if (d) { return d; }
    if (res.status === 403) { return T("forbidden"); }
    return T("error_generic");
  }

  function detailText(res) {
    var d = res.data && res.data.detail;
    if (typeof d === "string") { return d; }
    if (Array.isArray(d) && d.length && d[0].msg) { return d.map(function (x) { return x.msg; }).join(" "); }
    return "";
  }

  function fieldMessage(item) {
    if (item.type === "missing") { return T("field_required"); }
    if (item.type === "string_too_short" && /password/.test(String(item.loc))) { return T("password_short"); }
    return item.msg;
  }

  function clearErrors(form) {
    form.querySelectorAll("[data-error-for], [data-form-error], [data-form-ok]").forEach(function (el) {
      el.hidden = true;
      el.textContent = el.hasAttribute("data-form-ok") ? el.textContent : "";
    });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
  }

  function setFieldError(form, name, text) {
    var slot = form.querySelector('[data-error-for="' + name + '"]');
    var input = form.querySelector('[name="' + name + '"]');
    if (!slot) { return false; }
    slot.textContent = text;
    slot.hidden = false;
    if (input) { input.setAttribute("aria-invalid", "true"); }
    return true;
  }

  function setFormError(form, text) {
    var slot = form.querySelector("[data-form-error]");
    if (slot) { slot.textContent = text; slot.hidden = false; } else { flash(text); }
  }

  function showErrors(form, res, context) {
    var d = res.data && res.data.detail;
    var placed = false;
    if (res.status === 422 && Array.isArray(d)) {
      d.forEach(function (item) {
        var loc = item.loc || [];
        var name = loc[loc.length - 1];
        if (item.field) {
          /* settings: the dotted path, else its closest field on the page (stages.0.x → stages) */
          var parts = String(item.field).split(".");
          while (parts.length && !form.querySelector('[data-error-for="' + parts.join(".") + '"]')) { parts.pop(); }
          if (parts.length) { name = parts.join("."); }
        }
        if (setFieldError(form, String(name), fieldMessage(item))) { placed = true; }
      });
      var first = form.querySelector('[aria-invalid="true"]');
      if (first) { first.focus(); }
    }
    if (!placed) { setFormError(form, reason(res, context)); }
    if (res.status === 401 && context !== "login") { setTimeout(toLogin, 1500); }
  }

  function toLogin() {
    window.location.assign("/login?next=" + encodeURIComponent(location.pathname));
  }

  /* ---------- JSON forms (login, account, team) ---------- */

  /* a field's value by its data-kind: numbers, one item per line, JSON (errors collected) */
  function typedValue(el, v, errors) {
    var kind = el.dataset.kind;
    if (kind === "number") {
      if (v === "") { return null; }
      var n = Number(v.replace(",", "."));
      return isNaN(n) ? v : n;
    }
    if (kind === "lines") {
      return v.split("\n").map(function (x) { return x.trim(); }).filter(function (x) { return x; });
    }
    if (kind === "json") {
      if (v === "") { return null; }
      try { return JSON.parse(v); } catch (e) {
        errors.push([el.name, T("invalid_json", { error: e.message })]);
        return undefined;
      }
    }
    return v;
  }

  /* "a.b.c" → out.a.b.c (settings forms carry their sections' nested shape) */
  function setPath(out, name, value) {
    var parts = name.split(".");
    var at = out;
    parts.slice(0, -1).forEach(function (p) {
      if (typeof at[p] !== "object" || at[p] === null) { at[p] = {}; }
      at = at[p];
    });
    at[parts[parts.length - 1]] = value;
  }

  function formPayload(form, errors) {
    var out = {};
    var nested = form.hasAttribute("data-nested");
    var put = function (name, value) {
      if (nested) { setPath(out, name, value); } else { out[name] = value; }
    };
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled || el.type === "submit" || el.type === "file") { return; }
      if (el.type === "checkbox") { put(el.name, el.checked); return; }
      var v = el.value;
      if (el.type !== "password") { v = v.trim(); }
      if (v === "" && el.hasAttribute("data-nullable")) { put(el.name, null); return; }
      v = typedValue(el, v, errors || []);
      if (v !== undefined) { put(el.name, v); }
    });
    /* repeated items (follow-up stages): {"0": {...}, "1": {...}} → a list, in order,
       without the blank ones (their key field left empty) */
    form.querySelectorAll("[data-list]").forEach(function (box) {
      var items = out[box.dataset.list];
      if (!items || Array.isArray(items)) { return; }
      var key = box.dataset.listKey;
      out[box.dataset.list] = Object.keys(items).sort(function (a, b) { return a - b; })
        .map(function (k) { return items[k]; })
        .filter(function (item) { return !key || (item[key] !== null && item[key] !== ""); });
    });
    return out;
  }

  function validate(form) {
    var ok = true;
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled) { return; }
      if (el.required && !String(el.value).trim()) {
        setFieldError(form, el.name, T("field_required"));
        ok = false;
      } else if (el.type === "password" && el.minLength > 0 && el.value.length < el.minLength) {
        setFieldError(form, el.name, T("password_short"));
        ok = false;
      }
    });
    if (!ok) {
      var first = form.querySelector('[aria-invalid="true"]');
      if (first) { first.focus(); }
    }
    return ok;
  }

  function submitApiForm(form) {
    clearErrors(form);
    if (!validate(form)) { return; }
    var button = form.querySelector('[type="submit"]');
    if (button) { button.disabled = true; }
    var context = form.id === "login-form" ? "login" : "form";
    var problems = [];
    var payload = formPayload(form, problems);
    if (problems.length) {
      if (button) { button.disabled = false; }
      problems.forEach(function (p) { setFieldError(form, p[0], p[1]); });
      var bad = form.querySelector('[aria-invalid="true"]');
      if (bad) { bad.focus(); }
      return;
    }
    api(form.dataset.method || "POST", form.dataset.url, payload).then(function (res) {
      if (button) { button.disabled = false; }
      if (!res.ok) { showErrors(form, res, context); return; }
      if (context === "login") {
        var next = form.dataset.next || "/inbox";
        window.location.assign(next.charAt(0) === "/" && next.charAt(1) !== "/" ? next : "/inbox");
        return;
      }
      var ok = form.querySelector("[data-form-ok]");
      if (ok) { ok.hidden = false; }
      if (form.hasAttribute("data-clear")) { form.reset(); }
      if (form.hasAttribute("data-reload")) { setTimeout(function () { window.location.reload(); }, ok ? 600 : 0); }
    });
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (form.classList && form.classList.contains("api-form")) {
      ev.preventDefault();
      submitApiForm(form);
    } else if (form.id === "composer") {
      ev.preventDefault();
      sendReply(form);
    } else if (form.id === "template-form") {
      ev.preventDefault();
      sendTemplate(form);
    }
  });

  /* ---------- bot settings: test the AI key with the form's values ---------- */

  var testKey = document.getElementById("test-key");
  if (testKey) {
    testKey.addEventListener("click", function () {
      var form = testKey.form;
      var out = document.getElementById("test-result");
      clearErrors(form);
      var problems = [];
      var payload = formPayload(form, problems);
      if (problems.length) { problems.forEach(function (p) { setFieldError(form, p[0], p[1]); }); return; }
      testKey.disabled = true;
      out.hidden = false;
      out.className = "test-result";
      out.textContent = T("testing_key");
      api("POST", testKey.dataset.url, payload).then(function (res) {
        testKey.disabled = false;
        if (!res.ok) { out.hidden = true; showErrors(form, res, "form"); return; }
        var d = res.data || {};
        if (d.ok) {
          out.textContent = T("key_ok", { provider: d.provider + " / " + d.model, ms: d.elapsed_ms });
        } else {
          out.className = "test-result bad";
          out.textContent = T("key_failed", { error: (d.status ? d.status + " " : "") + (d.error || "") });
        }
      });
    });
  }

  /* ---------- top bar: logout, sound, notifications ---------- */

  /* on a phone the menu scrolls sideways: keep the current page's link in view */
  var currentLink = document.querySelector('.topbar nav a[aria-current="page"]');
  if (currentLink && currentLink.parentNode.scrollWidth > currentLink.parentNode.clientWidth) {
    currentLink.parentNode.scrollLeft = currentLink.offsetLeft - currentLink.parentNode.offsetLeft - 8;
  }

  function clearDrafts() {
    try {
      Object.keys(localStorage).forEach(function (k) {
        if (k.indexOf("wa-draft:") === 0) { localStorage.removeItem(k); }
      });
    } catch (e) { /* storage disabled */ }
  }

  /* the bar's "Sair" and, on an owner's phone, the one in "Mais" */
  document.querySelectorAll("[data-logout]").forEach(function (logout) {
    logout.addEventListener("click", function () {
      api("POST", "/api/auth/logout").then(function () {
        clearDrafts();
        window.location.assign("/login");
      });
    });
  });

  var soundToggle = document.getElementById("sound-toggle");
  function paintSound() {
    if (!soundToggle) { return; }
    var on = body.dataset.sound === "on";
    soundToggle.setAttribute("aria-pressed", on ? "true" : "false");
    soundToggle.querySelector(".sound-label").textContent = on ? soundToggle.dataset.on : soundToggle.dataset.off;
  }
  if (soundToggle) {
    soundToggle.addEventListener("click", function () {
      var on = body.dataset.sound !== "on";
      body.dataset.sound = on ? "on" : "off";
      paintSound();
      if (on) { beep(); }
      api("PATCH", "/api/me", { notify_sound: on }).then(function (res) {
        if (!res.ok) {
          body.dataset.sound = on ? "off" : "on";
          paintSound();
          flash(reason(res));
        }
      });
    });
  }

  var audio = null;
  function unlockAudio() {
    var C = window.AudioContext || window.webkitAudioContext;
    if (!C) { return; }
    if (!audio) { audio = new C(); }
    if (audio.state === "suspended") { audio.resume(); }
  }
  /* browsers start audio only after a user gesture: unlock on the first one */
  ["pointerdown", "keydown"].forEach(function (name) {
    document.addEventListener(name, unlockAudio, { once: true, capture: true });
  });

  function beep() {
    if (body.dataset.sound !== "on") { return; }
    unlockAudio();
    if (!audio) { return; }
    var start = audio.currentTime + 0.01;
    [880, 1320].forEach(function (freq, i) {
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      var t0 = start + i * 0.18;
      osc.type = "sine";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, t0);
      gain.gain.exponentialRampToValueAtTime(0.25, t0 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + 0.16);
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.start(t0);
      osc.stop(t0 + 0.17);
    });
  }

  /* the browser asks only after a click: a button offers it while the answer is unknown */
  var notifyButtons = document.querySelectorAll("[data-notify-permission]");
  function paintNotifyState() {
    var state = "Notification" in window ? Notification.permission : "unsupported";
    document.querySelectorAll("[data-notify-state]").forEach(function (el) {
      el.hidden = el.dataset.notifyState !== state;
    });
    notifyButtons.forEach(function (b) { b.hidden = state !== "default"; });
  }
  notifyButtons.forEach(function (button) {
    button.addEventListener("click", function () {
      Notification.requestPermission().then(paintNotifyState);
    });
  });
  paintNotifyState();

  function notify(title, text, conversationId) {
    if (!("Notification" in window) || Notification.permission !== "granted") { return; }
    if (!document.hidden && openConversation() === conversationId) { return; }
    try {
      var n = new Notification(title, { body: text, tag: conversationId || "console" });
      n.onclick = function () {
        window.focus();
        if (conversationId) { window.location.assign("/inbox/" + conversationId); }
      };
    } catch (e) { /* some mobile browsers only allow notifications from a service worker */ }
  }

  var pending = 0;
  var baseTitle = document.title;
  function setBadge(n) {
    pending = n;
    var badge = document.getElementById("handover-badge");
    if (badge) {
      badge.textContent = n ? String(n) : "";
      badge.hidden = !n;
    }
    document.title = n ? "(" + n + ") " + baseTitle : baseTitle;
  }

  /* ---------- inbox: list and thread refresh ---------- */

  function inbox() { return document.getElementById("inbox"); }

  function openConversation() {
    var head = document.querySelector(".thread-head");
    return head ? head.dataset.conversationId : "";
  }

  function listParams() {
    var form = document.getElementById("filters");
    var params = new URLSearchParams();
    if (form) {
      var checked = form.querySelector('input[name="state"]:checked');
      params.set("state", checked ? checked.value : "all");
      params.set("q", form.querySelector('input[name="q"]').value);
    }
    return params;
  }

  var timers = {};
  function soon(name, fn) {
    clearTimeout(timers[name]);
    timers[name] = setTimeout(fn, 120);
  }

  function refreshList() {
    if (!inbox() || !window.htmx) { return; }
    soon("list", function () {
      var params = listParams();
      params.set("fragment", "list");
      var current = openConversation();
      if (current) { params.set("current", current); }
      window.htmx.ajax("GET", "/inbox?" + params.toString(), { target: "#conv-list", swap: "innerHTML" });
    });
  }

  function refreshThread() {
    var live = document.getElementById("thread-live");
    if (!live || !window.htmx) { return; }
    soon("thread", function () {
      var scroller = document.getElementById("messages-scroll");
      stickToBottom = !scroller || scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
      window.htmx.trigger(live, "refresh-thread");
    });
  }

  var stickToBottom = true;
  var readSent = {};

  function afterThreadSwap(first) {
    var head = document.querySelector(".thread-head");
    var composer = document.getElementById("composer");
    var box = inbox();
    if (!head) { return; }
    if (box) { box.dataset.open = "1"; }
    var id = head.dataset.conversationId;
    document.querySelectorAll(".conv").forEach(function (li) {
      var here = li.dataset.conversationId === id;
      li.classList.toggle("current", here);
      var a = li.querySelector("a");
      if (a) { if (here) { a.setAttribute("aria-current", "true"); } else { a.removeAttribute("aria-current"); } }
    });
    if (composer) {
      composer.dataset.mode = head.dataset.window === "closed" ? "closed" : "open";
      applyComposerMode(composer);
      if (first) { restoreDraft(composer); }
    }
    var scroller = document.getElementById("messages-scroll");
    if (scroller && (first || stickToBottom)) { scroller.scrollTop = scroller.scrollHeight; }
    stickToBottom = true;
    if (parseInt(head.dataset.unread || "0", 10) > 0 && !document.hidden && !readSent[id]) {
      readSent[id] = true;
      api("POST", "/api/conversations/" + id + "/read").then(function (res) {
        readSent[id] = false;
        if (res.ok) { refreshList(); refreshThread(); }
      });
    }
  }

  /* ---------- reply box ---------- */

  function draftKey(id) { return "wa-draft:" + USER + ":" + id; }

  function restoreDraft(composer) {
    var text = composer.querySelector("textarea");
    try {
      var saved = localStorage.getItem(draftKey(composer.dataset.conversationId));
      if (saved && text && !text.value) { text.value = saved; }
    } catch (e) { /* storage disabled */ }
    updateCounter(composer);
  }

  function saveDraft(composer) {
    var text = composer.querySelector("textarea");
    try {
      if (text.value) { localStorage.setItem(draftKey(composer.dataset.conversationId), text.value); }
      else { localStorage.removeItem(draftKey(composer.dataset.conversationId)); }
    } catch (e) { /* storage full or disabled: the draft just is not kept */ }
  }

  function updateCounter(composer) {
    var counter = composer.querySelector("[data-counter]");
    var text = composer.querySelector("textarea");
    if (counter && text) {
      counter.textContent = text.value.length > MAX_TEXT - 500 ? T("counter", { n: text.value.length }) : "";
    }
  }

  function applyComposerMode(composer) {
    var closed = composer.dataset.mode === "closed";
    var area = composer.closest(".composer-area") || composer;
    area.querySelectorAll('[data-when="closed"]').forEach(function (el) { el.hidden = !closed; });
    area.querySelectorAll('[data-when="open"]').forEach(function (el) { el.hidden = closed; });
    composer.querySelectorAll("textarea, #composer-file, #composer-send").forEach(function (el) { el.disabled = closed; });
    if (closed && window.htmx) {
      var box = document.getElementById("templates-box");
      if (box) { window.htmx.trigger(box, "load-templates"); }
    }
  }

  /* one key per message: a retry of the same content reuses it, so the server sends it once */
  function keyFor(composer, signature) {
    if (composer.dataset.keySig !== signature || !composer.dataset.key) {
      composer.dataset.key = uuid();
      composer.dataset.keySig = signature;
    }
    return composer.dataset.key;
  }

  function sendReply(composer) {
    clearErrors(composer);
    var text = composer.querySelector("textarea");
    var file = composer.querySelector('input[type="file"]');
    var value = text.value.trim();
    var chosen = file && file.files && file.files[0];
    if (!value && !chosen) { setFormError(composer, T("empty_text")); text.focus(); return; }
    if (value.length > MAX_TEXT) { setFormError(composer, T("too_long")); return; }
    var payload;
    var signature = value + "\u0000" + (chosen ? chosen.name + ":" + chosen.size : "");
    if (chosen) {
      payload = new FormData();
      payload.append("file", chosen);
      if (value) { payload.append("caption", value); }
    } else {
      payload = { text: value };
    }
    var button = composer.querySelector("#composer-send");
    button.disabled = true;
    composer.setAttribute("aria-busy", "true");
    api("POST", composer.dataset.url, payload, { "Idempotency-Key": keyFor(composer, signature) }).then(function (res) {
      button.disabled = composer.dataset.mode === "closed";
      composer.removeAttribute("aria-busy");
      if (!res.ok) {
        if (res.status === 409) { refreshThread(); }
        if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
          composer.dataset.key = "";  // refused for good: a corrected message is a new one
        }
        showErrors(composer, res, "reply");
        return;
      }
      composer.dataset.key = "";
      text.value = "";
      clearFile(composer);
      saveDraft(composer);
      updateCounter(composer);
      announce(T("sent"));
      stickToBottom = true;
      refreshThread();
      refreshList();
      text.focus();
    });
  }

  function clearFile(composer) {
    var file = composer.querySelector('input[type="file"]');
    if (file) { file.value = ""; }
    var box = composer.querySelector("[data-attachment]");
    if (box) { box.hidden = true; }
  }

  document.addEventListener("input", function (ev) {
    var composer = ev.target.closest && ev.target.closest("#composer");
    if (composer && ev.target.tagName === "TEXTAREA") {
      updateCounter(composer);
      /* at once, not debounced: switching conversations or reloading right after typing
         must not lose the text */
      saveDraft(composer);
    }
  });

  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && ev.target.id === "composer-text") {
      ev.preventDefault();
      ev.target.form.requestSubmit();
    }
    if (ev.key === "Escape") {
      document.querySelectorAll("details.menu[open]").forEach(function (d) {
        /* keyboard users land back on the button that opened it */
        var inside = d.contains(document.activeElement);
        d.open = false;
        if (inside) { d.querySelector("summary").focus(); }
      });
    }
  });

  document.addEventListener("change", function (ev) {
    var t = ev.target;
    if (t.id === "composer-file") {
      var composer = t.form;
      var box = composer.querySelector("[data-attachment]");
      var f = t.files && t.files[0];
      box.hidden = !f;
      composer.querySelector("[data-attachment-name]").textContent = f ? f.name : "";
    } else if (t.id === "template-select") {
      showTemplate(t);
    }
  });

  function showTemplate(select) {
    var form = select.form;
    var opt = select.selectedOptions[0];
    var holder = form.querySelector("[data-template-params]");
    holder.textContent = "";
    form.querySelector("[data-template-body]").textContent = opt && opt.value ? opt.dataset.body : "";
    var names = [];
    try { names = opt && opt.value ? JSON.parse(opt.dataset.paramNames || "[]") : []; } catch (e) { names = []; }
    for (var i = 1; i <= names.length; i++) {
      var wrap = document.createElement("div");
      wrap.className = "field";
      var label = document.createElement("label");
      label.htmlFor = "template-param-" + i;
      label.textContent = opt.dataset.named ? names[i - 1] : T("template_param", { n: i });
      var input = document.createElement("input");
      input.id = "template-param-" + i;
      input.name = "param";
      input.dataset.paramName = names[i - 1];
      input.required = true;
      wrap.appendChild(label);
      wrap.appendChild(input);
      holder.appendChild(wrap);
    }
  }

  function sendTemplate(form) {
    clearErrors(form);
    var select = form.querySelector("#template-select");
    var opt = select.selectedOptions[0];
    if (!opt || !opt.value) { setFormError(form, T("template_required")); select.focus(); return; }
    var inputs = Array.prototype.slice.call(form.querySelectorAll('input[name="param"]'));
    if (inputs.some(function (i) { return !i.value.trim(); })) { setFormError(form, T("field_required")); return; }
    var params;
    if (opt.dataset.named) {
      params = {};
      inputs.forEach(function (i) { params[i.dataset.paramName] = i.value.trim(); });
    } else {
      params = inputs.map(function (i) { return i.value.trim(); });
    }
    var payload = { template: { name: opt.dataset.name, language: opt.dataset.language, parameters: params } };
    var button = form.querySelector('[type="submit"]');
    button.disabled = true;
    api("POST", form.dataset.url, payload, { "Idempotency-Key": keyFor(form, JSON.stringify(payload)) }).then(function (res) {
      button.disabled = false;
      if (!res.ok) { showErrors(form, res, "reply"); return; }
      form.dataset.key = "";
      select.value = "";
      showTemplate(select);
      announce(T("sent"));
      refreshThread();
      refreshList();
    });
  }

  /* ---------- conversation and team actions ---------- */

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest && ev.target.closest("[data-action]");
    if (button) {
      var id = openConversation();
      if (!id) { return; }
      var payload = button.dataset.body ? JSON.parse(button.dataset.body) : {};
      button.disabled = true;
      api("POST", "/api/conversations/" + id + "/" + button.dataset.action, payload).then(function (res) {
        button.disabled = false;
        var menu = button.closest("details");
        if (menu) { menu.open = false; }
        if (!res.ok) { flash(reason(res)); if (res.status === 401) { setTimeout(toLogin, 1500); } return; }
        flash("");
        refreshThread();
        refreshList();
      });
      return;
    }
    var userButton = ev.target.closest && ev.target.closest("[data-user-action]");
    if (userButton) {
      var row = userButton.closest("[data-user-id]");
      var list = document.getElementById("user-list");
      if (userButton.dataset.confirm && !window.confirm(userButton.dataset.confirm)) { return; }
      var active = userButton.dataset.userAction === "activate";
      var url = list.dataset.updateUrl.replace("{id}", row.dataset.userId);
      userButton.disabled = true;
      api(list.dataset.updateMethod || "PATCH", url, { is_active: active }).then(function (res) {
        userButton.disabled = false;
        if (!res.ok) { flash(reason(res)); return; }
        window.location.reload();
      });
      return;
    }
    var clear = ev.target.closest && ev.target.closest("[data-attachment-clear]");
    if (clear) { clearFile(clear.closest("form")); }
    /* one open menu at a time; a click outside closes them */
    document.querySelectorAll("details.menu[open]").forEach(function (d) {
      if (!d.contains(ev.target)) { d.open = false; }
    });
  });

  /* ---------- knowledge base: uploads with progress, delete, ask, File Search ---------- */

  var kb = document.getElementById("knowledge");

  function kbUrl(path) { return kb.dataset.api + path + (kb.dataset.query || ""); }

  function refreshDocs() {
    if (!window.htmx) { window.location.reload(); return; }
    var q = kb.dataset.query ? "&" + kb.dataset.query.slice(1) : "";
    window.htmx.ajax("GET", "/conhecimento?fragment=list" + q, { target: "#kb-docs", swap: "outerHTML" });
  }

  /* as the server writes sizes (console.knowledge.views.size_label) */
  function sizeLabel(n) {
    if (n < 1024) { return n + " B"; }
    if (n < 1024 * 1024) { return Math.round(n / 1024) + " KB"; }
    return (n / (1024 * 1024)).toFixed(1).replace(".", ",") + " MB";
  }

  function uploadRow(file) {
    var li = document.createElement("li");
    li.className = "kb-upload";
    li.dataset.name = file.name;
    var name = document.createElement("strong");
    name.textContent = file.name;
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", file.name);
    var state = document.createElement("span");
    state.className = "kb-upload-status small";
    state.textContent = T("kb_waiting");
    li.appendChild(name);
    li.appendChild(bar);
    li.appendChild(state);
    return li;
  }

  function finishRow(li, ok, text) {
    li.classList.add(ok ? "done" : "failed");
    li.querySelector("progress").hidden = true;
    var state = li.querySelector(".kb-upload-status");
    state.textContent = text;
    if (!ok) { state.setAttribute("role", "alert"); }
  }

  /* XMLHttpRequest, not fetch: only it reports upload progress */
  function uploadOne(file, li) {
    return new Promise(function (resolve) {
      var max = parseInt(kb.dataset.maxBytes || "0", 10);
      if (max && file.size > max) {
        finishRow(li, false, T("kb_too_large", { max: sizeLabel(max) }));
        resolve(false);
        return;
      }
      var form = new FormData();
      form.append("file", file, file.name);
      var xhr = new XMLHttpRequest();
      var bar = li.querySelector("progress");
      var state = li.querySelector(".kb-upload-status");
      xhr.open("POST", kbUrl("/documents"));
      xhr.setRequestHeader("X-CSRF-Token", csrf());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = function (ev) {
        if (!ev.lengthComputable) { return; }
        var p = Math.round((ev.loaded / ev.total) * 100);
        bar.value = p;
        state.textContent = p < 100 ? T("kb_sending", { p: p }) : T("kb_reading");
      };
      xhr.onload = function () {
        var data = null;
        try { data = JSON.parse(xhr.responseText || "null"); } catch (e) { data = { detail: xhr.responseText }; }
        var res = { ok: xhr.status >= 200 && xhr.status < 300, status: xhr.status, data: data, headers: { get: function (h) { return xhr.getResponseHeader(h); } } };
        if (res.ok) {
          var replaced = data.created_at !== data.updated_at;
          var key = (replaced ? "kb_replaced" : "kb_done") + (data.passages === 1 ? "_one" : "");
          finishRow(li, true, T(key, { n: data.passages }));
        } else if (xhr.status === 413 && !(data && Array.isArray(data.detail))) {
          finishRow(li, false, T("kb_too_large", { max: sizeLabel(max) }));  /* refused before the app */
        } else {
          finishRow(li, false, reason(res));
          if (xhr.status === 401) { setTimeout(toLogin, 1500); }
        }
        resolve(res.ok);
      };
      xhr.onerror = function () { finishRow(li, false, T("error_network")); resolve(false); };
      xhr.send(form);
    });
  }

  function uploadAll(form) {
    var input = form.querySelector('input[type="file"]');
    var files = Array.prototype.slice.call(input.files || []);
    var list = document.getElementById("kb-uploads");
    if (!files.length) { flash(T("kb_pick")); input.focus(); return; }
    list.textContent = "";
    var rows = files.map(function (f) { var li = uploadRow(f); list.appendChild(li); return li; });
    var button = form.querySelector('[type="submit"]');
    button.disabled = true;
    /* one at a time: a phone's upload link is the bottleneck, and each file gets its verdict */
    files.reduce(function (chain, f, i) {
      return chain.then(function () { return uploadOne(f, rows[i]); });
    }, Promise.resolve()).then(function () {
      button.disabled = false;
      input.value = "";
      refreshDocs();
    });
  }

  function passageItem(p) {
    var li = document.createElement("li");
    li.className = "kb-passage";
    var head = document.createElement("div");
    head.className = "kb-passage-head";
    var doc = document.createElement("strong");
    doc.textContent = p.document + (p.heading ? " › " + p.heading : "");
    var score = document.createElement("span");
    score.className = "chip kb-score";
    score.textContent = T("kb_score", { s: p.score.toFixed(2) });
    head.appendChild(doc);
    head.appendChild(score);
    var text = document.createElement("p");
    text.className = "kb-passage-text";
    text.textContent = p.text;
    li.appendChild(head);
    li.appendChild(text);
    return li;
  }

  function ask(form) {
    clearErrors(form);
    if (!validate(form)) { return; }
    var button = form.querySelector('[type="submit"]');
    button.disabled = true;
    api("POST", kbUrl("/ask"), formPayload(form)).then(function (res) {
      button.disabled = false;
      if (!res.ok) { showErrors(form, res, "form"); return; }
      var d = res.data;
      var how = d.mode === "offline"
        ? T("kb_how_offline", { k: d.k })
        : T("kb_how_model", { k: d.k, search: T(d.hybrid ? "kb_search_hybrid" : "kb_search_lexical") });
      if (d.query !== form.querySelector('[name="question"]').value.trim()) { how += " " + T("kb_rewritten", { q: d.query }); }
      document.getElementById("kb-answer-how").textContent = how;
      var list = document.getElementById("kb-passages");
      list.textContent = "";
      d.passages.forEach(function (p) { list.appendChild(passageItem(p)); });
      document.getElementById("kb-no-passage").hidden = d.passages.length > 0;
      document.getElementById("kb-answer").hidden = false;
    });
  }

  function paintFileSearch(state) {
    var el = document.getElementById("kb-fs-state");
    var texts = { off: el.dataset.off, on: el.dataset.on, inactive: el.dataset.inactive };
    el.dataset.state = state;
    el.textContent = texts[state] || state;
    document.getElementById("kb-fs-sync").hidden = state !== "on";
  }

  if (kb) {
    document.getElementById("kb-upload").addEventListener("submit", function (ev) { ev.preventDefault(); uploadAll(ev.target); });
    document.getElementById("kb-ask").addEventListener("submit", function (ev) { ev.preventDefault(); ask(ev.target); });
    kb.addEventListener("click", function (ev) {
      var del = ev.target.closest("[data-kb-delete]");
      if (!del) { return; }
      if (!window.confirm(del.dataset.confirm)) { return; }
      var row = del.closest("[data-doc-id]");
      del.disabled = true;
      api("DELETE", kbUrl("/documents/" + row.dataset.docId)).then(function (res) {
        del.disabled = false;
        if (!res.ok && res.status !== 404) { flash(reason(res)); return; }
        refreshDocs();
      });
    });
    var fsSwitch = document.getElementById("kb-fs-switch");
    fsSwitch.addEventListener("change", function () {
      var on = fsSwitch.checked;
      fsSwitch.disabled = true;
      api("PUT", kbUrl("/file-search"), { enabled: on }).then(function (res) {
        fsSwitch.disabled = false;
        if (!res.ok) { fsSwitch.checked = !on; flash(reason(res)); return; }
        paintFileSearch(res.data.state);
        refreshDocs();
      });
    });
    document.getElementById("kb-fs-sync").addEventListener("click", function (ev) {
      var button = ev.currentTarget;
      button.disabled = true;
      api("POST", kbUrl("/file-search/sync")).then(function (res) {
        button.disabled = false;
        if (!res.ok) { flash(reason(res)); return; }
        paintFileSearch(res.data.state);
        refreshDocs();
      });
    });
  }

  /* ---------- local time ---------- */

  function formatTimes(root) {
    var now = new Date();
    (root || document).querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d.getTime())) { return; }
      var sameDay = d.toDateString() === now.toDateString();
      var opts = { hour: "2-digit", minute: "2-digit" };
      if (el.dataset.style === "long" || !sameDay) {
        opts.day = "2-digit";
        opts.month = "2-digit";
        if (d.getFullYear() !== now.getFullYear()) { opts.year = "numeric"; }
      }
      el.textContent = d.toLocaleString(LANG, opts);
      el.title = d.toLocaleString(LANG, { dateStyle: "full", timeStyle: "short" });
    });
  }
  formatTimes(document);

  /* ---------- htmx hooks ---------- */

  document.addEventListener("htmx:afterSwap", function (ev) {
    var target = ev.detail.target;
    formatTimes(target.parentNode || document);
    if (target.id === "thread") { afterThreadSwap(true); }
    else if (target.id === "thread-live") { afterThreadSwap(false); }
    if (target.id === "conv-list" && !document.hidden) { setBadge(0); }
  });
  /* outerHTML swaps replace the target: handle the new element too */
  document.addEventListener("htmx:afterSettle", function (ev) {
    if (ev.detail.elt && ev.detail.elt.id === "thread-live") { formatTimes(ev.detail.elt); }
  });
  document.addEventListener("htmx:responseError", function (ev) {
    var status = ev.detail.xhr.status;
    if (status === 401) { toLogin(); return; }
    flash(status === 404 ? T("error_generic") : T("error_generic"));
  });
  document.addEventListener("htmx:sendError", function () { flash(T("error_network")); });

  if (document.querySelector(".thread-head")) { afterThreadSwap(true); }

  /* ---------- live stream ---------- */

  var stream = null;
  var everOpened = false;
  var retryMs = 1000;
  var lostTimer = null;

  function connStatus(lost) {
    var el = document.getElementById("conn-status");
    clearTimeout(lostTimer);
    if (!el) { return; }
    if (lost) { lostTimer = setTimeout(function () { el.hidden = false; }, 2500); }
    else { el.hidden = true; }
  }

  var lastEventId = "";

  function onEvent(name, handler) {
    stream.addEventListener(name, function (ev) {
      if (ev.lastEventId) { lastEventId = ev.lastEventId; }
      var data = {};
      try { data = JSON.parse(ev.data || "{}"); } catch (e) { data = {}; }
      handler(data);
    });
  }

  function openStream() {
    if (!USER || !window.EventSource) { return; }
    /* a new EventSource starts without Last-Event-ID: name the last one seen instead */
    stream = new EventSource("/api/events" + (lastEventId ? "?last_event_id=" + encodeURIComponent(lastEventId) : ""));
    stream.onopen = function () {
      body.dataset.stream = "open";
      connStatus(false);
      retryMs = 1000;
      /* events between the drop and now may be beyond what replay covers: refetch what is shown */
      if (everOpened) { refreshList(); refreshThread(); }
      everOpened = true;
    };
    stream.onerror = function () {
      body.dataset.stream = "lost";
      connStatus(true);
      if (stream.readyState === EventSource.CLOSED) {
        /* the server refused the stream (signed out, or down): find out which */
        stream = null;
        api("GET", "/api/me").then(function (res) {
          if (res.status === 401) { toLogin(); return; }
          setTimeout(openStream, retryMs);
          retryMs = Math.min(retryMs * 2, 30000);
        });
      }
    };
    onEvent("message.created", function (d) {
      refreshList();
      if (d.conversation_id && d.conversation_id === openConversation()) {
        refreshThread();
        if (d.direction === "in" || d.author === "customer") {
          var name = document.querySelector(".thread-head h2");
          announce(T("new_message", { name: name ? name.textContent : T("customer") }));
        }
      }
    });
    onEvent("message.status", function (d) {
      if (d.conversation_id && d.conversation_id === openConversation()) { refreshThread(); }
    });
    onEvent("conversation.updated", function (d) {
      refreshList();
      if (d.conversation_id && d.conversation_id === openConversation()) { refreshThread(); }
    });
    onEvent("handover.requested", function (d) {
      refreshList();
      if (d.conversation_id && d.conversation_id === openConversation()) { refreshThread(); }
      var listed = d.conversation_id && document.querySelector('.conv[data-conversation-id="' + d.conversation_id + '"] .conv-name');
      var who = d.contact_name || (listed && listed.textContent) || T("customer");
      var text = T("handover", { name: who });
      setBadge(pending + 1);
      announce(text);
      beep();
      notify(T("notify_title"), text, d.conversation_id);
    });
    /* the server could not replay everything missed: reload what is shown */
    onEvent("resync", function () { refreshList(); refreshThread(); });
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && inbox()) { setBadge(0); if (document.querySelector(".thread-head")) { afterThreadSwap(false); } }
  });

  openStream();

  /* for page scripts (channels): the same fetch, error placement and strings */
  window.WAConsole = {
    api: api, T: T, flash: flash, reason: reason,
    clearErrors: clearErrors, showErrors: showErrors, setFormError: setFormError
  };
})();
