/* The Meta channel page: Embedded Signup (Facebook's SDK, or its offline imitation in the
 * sandbox), the business profile loader and the message templates (list, create with a
 * live preview, delete). Requests go through console.js (window.WAConsole). */
(function () {
  "use strict";

  var root = document.getElementById("meta-channels");
  var C = window.WAConsole;
  if (!root || !C) { return; }
  var API = root.dataset.api;
  var T = C.T;

  /* ---------- Embedded Signup ---------- */

  var button = document.getElementById("meta-signup");
  var statusEl = document.getElementById("signup-status");
  var MODE = button ? button.dataset.mode : "";
  var SESSION_WAIT_MS = 10000;
  var pending = { code: null, session: null, sent: false, timer: null };

  function say(text, bad) {
    if (!statusEl) { return; }
    statusEl.textContent = text;
    statusEl.hidden = !text;
    statusEl.classList.toggle("form-error", !!bad);
  }

  function hostOf(origin) {
    try { return new URL(origin).hostname; } catch (e) { return ""; }
  }

  /* Meta's session-info message: the WABA and number the owner picked in the popup */
  function onMessage(ev) {
    var fromMeta = /(^|\.)facebook\.com$/.test(hostOf(ev.origin));
    var fromImitation = MODE === "sandbox" && ev.origin === window.location.origin;
    if (!fromMeta && !fromImitation) { return; }
    var data = ev.data;
    if (typeof data === "string") {
      try { data = JSON.parse(data); } catch (e) { return; } /* the SDK posts other messages too */
    }
    if (!data || data.type !== "WA_EMBEDDED_SIGNUP") { return; }
    if (data.event === "CANCEL") {
      var d = data.data || {};
      say(d.error_message ? T("meta_signup_error", { message: d.error_message, code: d.error_code || "?" })
                          : T("meta_signup_cancelled"), true);
      reset();
      return;
    }
    if (/^FINISH/.test(String(data.event)) && data.data && data.data.phone_number_id && data.data.waba_id) {
      pending.session = {
        event: String(data.event),
        waba_id: String(data.data.waba_id),
        phone_number_id: String(data.data.phone_number_id)
      };
      finish();
    }
  }

  /* FB.login's callback: the code lives 30 seconds, so it goes to the server at once */
  function onLogin(response) {
    var code = response && response.authResponse && response.authResponse.code;
    if (!code) { say(T("meta_signup_cancelled"), true); reset(); return; }
    pending.code = String(code);
    finish();
  }

  function reset() {
    clearTimeout(pending.timer);
    pending = { code: null, session: null, sent: false, timer: null };
    if (button) { button.disabled = false; }
  }

  function finish() {
    if (pending.sent) { return; }
    if (!pending.code || !pending.session) {
      if (pending.code && !pending.timer) {
        pending.timer = setTimeout(function () {
          if (!pending.sent) { say(T("meta_signup_no_session"), true); reset(); }
        }, SESSION_WAIT_MS);
      }
      return;
    }
    clearTimeout(pending.timer);
    pending.sent = true;
    say(T("meta_signup_finishing"));
    var body = {
      code: pending.code,
      waba_id: pending.session.waba_id,
      phone_number_id: pending.session.phone_number_id,
      event: pending.session.event
    };
    C.api("POST", API + "/signup", body).then(function (res) {
      if (!res.ok) { say(C.reason(res, "form"), true); reset(); return; }
      var shown = res.data.display_phone_number || res.data.phone_number_id;
      say(T("meta_signup_done", { number: shown }));
      setTimeout(function () { window.location.reload(); }, 900);
    });
  }

  function loginOptions() {
    return {
      config_id: button.dataset.configId,
      response_type: "code",
      override_default_response_type: true,
      extras: { setup: {}, featureType: "", sessionInfoVersion: "3" }
    };
  }

  /* The sandbox stand-in for Facebook's popup: it asks what the popup asks, has the sandbox
     Graph create the WABA and number, then answers exactly as the SDK does (the
     session-info message, then the login callback with a code). */
  var ImitationFB = {
    login: function (callback, options) {
      var dialog = document.getElementById("fb-imitation");
      var form = document.getElementById("fb-imitation-form");
      var cancel = document.getElementById("fb-imitation-cancel");
      C.clearErrors(form);
      function post(message) { window.postMessage(JSON.stringify(message), window.location.origin); }
      function onCancel() {
        cleanup();
        dialog.close();
        post({ type: "WA_EMBEDDED_SIGNUP", event: "CANCEL", data: { current_step: "BUSINESS_INFO" } });
        callback({ status: "unknown", authResponse: null });
      }
      function onSubmit(ev) {
        ev.preventDefault();
        C.clearErrors(form);
        var submit = document.getElementById("fb-imitation-finish");
        submit.disabled = true;
        var body = {
          verified_name: form.elements.verified_name.value.trim() || "Minha Empresa",
          display_phone_number: form.elements.display_phone_number.value.trim()
        };
        C.api("POST", API + "/sandbox-signup", body).then(function (res) {
          submit.disabled = false;
          if (!res.ok) { C.showErrors(form, res, "form"); return; }
          cleanup();
          dialog.close();
          var version = options && options.extras && options.extras.sessionInfoVersion;
          post({
            type: "WA_EMBEDDED_SIGNUP",
            event: "FINISH",
            version: version || "3",
            data: {
              phone_number_id: res.data.phone_number_id,
              waba_id: res.data.waba_id,
              business_id: res.data.business_id
            }
          });
          callback({ status: "connected", authResponse: { code: res.data.code } });
        });
      }
      function cleanup() {
        form.removeEventListener("submit", onSubmit);
        cancel.removeEventListener("click", onCancel);
        dialog.removeEventListener("cancel", onEscape);
      }
      function onEscape(ev) { ev.preventDefault(); onCancel(); }
      form.addEventListener("submit", onSubmit);
      cancel.addEventListener("click", onCancel);
      dialog.addEventListener("cancel", onEscape);
      dialog.showModal();
      form.elements.verified_name.focus();
    }
  };

  function loadSdk(ready) {
    if (window.FB) { ready(window.FB); return; }
    window.fbAsyncInit = function () {
      window.FB.init({ appId: button.dataset.appId, autoLogAppEvents: true, xfbml: false, version: button.dataset.version });
      ready(window.FB);
    };
    var s = document.createElement("script");
    s.src = "https://connect.facebook.net/pt_BR/sdk.js";
    s.async = true;
    s.crossOrigin = "anonymous";
    s.onerror = function () { say(T("meta_sdk_failed"), true); reset(); };
    document.head.appendChild(s);
  }

  if (button) {
    window.addEventListener("message", onMessage);
    button.addEventListener("click", function () {
      reset();
      button.disabled = true;
      say(T("meta_signup_open"));
      if (MODE === "sandbox") {
        ImitationFB.login(onLogin, loginOptions());
      } else {
        loadSdk(function (FB) { FB.login(onLogin, loginOptions()); });
      }
    });
  }

  /* ---------- business profile: the form opens with what Meta holds ---------- */

  document.querySelectorAll("form.profile-form").forEach(function (form) {
    var details = form.closest("details");
    var loaded = false;
    function load() {
      if (loaded || !details.open) { return; }
      loaded = true;
      C.api("GET", form.dataset.load).then(function (res) {
        if (!res.ok) { C.setFormError(form, C.reason(res, "form")); loaded = false; return; }
        Object.keys(res.data || {}).forEach(function (name) {
          var el = form.elements[name];
          var value = res.data[name];
          if (!el || value === null || value === undefined) { return; }
          el.value = Array.isArray(value) ? value.join(", ") : String(value);
        });
      });
    }
    details.addEventListener("toggle", load);
    load();
  });

  /* ---------- message templates ---------- */

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  /* the catalog's word for one of Graph's values, else the value itself */
  function labelOf(prefix, value) {
    var key = prefix + value;
    var label = T(key);
    return label === key ? String(value) : label;
  }

  function statusLabel(status) { return labelOf("meta_status_", status); }

  function renderTemplates(list, items) {
    list.textContent = "";
    if (!items.length) { list.appendChild(el("li", "muted small", T("meta_templates_none"))); return; }
    items.forEach(function (t) {
      var li = el("li", "template-row");
      li.dataset.templateName = t.name;
      var head = el("div", "template-head");
      head.appendChild(el("strong", "template-name", t.name));
      head.appendChild(el("span", "chip", t.language));
      head.appendChild(el("span", "chip", labelOf("meta_category_", t.category)));
      var chip = el("span", "chip template-status status-" + String(t.status || "").toLowerCase(), statusLabel(t.status));
      chip.dataset.status = t.status || "";
      head.appendChild(chip);
      li.appendChild(head);
      if (t.body) { li.appendChild(el("p", "template-body small", t.body)); }
      if (t.rejected_reason && t.rejected_reason !== "NONE") {
        li.appendChild(el("p", "form-error small", T("meta_rejected_reason", { reason: t.rejected_reason })));
      }
      var del = el("button", "btn small template-delete", T("meta_template_delete"));
      del.type = "button";
      del.addEventListener("click", function () {
        if (!window.confirm(T("meta_template_confirm_delete", { name: t.name }))) { return; }
        del.disabled = true;
        C.api("DELETE", list.dataset.templates + "/" + encodeURIComponent(t.name)).then(function (res) {
          if (!res.ok) { del.disabled = false; showListError(list, C.reason(res, "form")); return; }
          C.flash(T("meta_template_deleted", { name: t.name }));
          loadTemplates(list);
        });
      });
      li.appendChild(del);
      list.appendChild(li);
    });
  }

  function showListError(list, text) {
    var slot = list.parentNode.querySelector("[data-templates-error]");
    if (slot) { slot.textContent = text; slot.hidden = !text; }
  }

  function loadTemplates(list) {
    return C.api("GET", list.dataset.templates).then(function (res) {
      if (!res.ok) {
        list.textContent = "";
        showListError(list, C.reason(res, "form"));
        return;
      }
      showListError(list, "");
      renderTemplates(list, res.data || []);
    });
  }

  document.querySelectorAll("ul[data-templates]").forEach(loadTemplates);

  function examplesOf(form) {
    return form.elements.examples.value.split(",").map(function (s) { return s.trim(); })
      .filter(function (s) { return s; });
  }

  /* what the customer will see: the body with each {{n}} filled by its example */
  function paintPreview(form) {
    var fig = form.querySelector(".template-preview");
    var header = fig.querySelector(".preview-header");
    var bodyEl = fig.querySelector(".preview-body");
    var footer = fig.querySelector(".preview-footer");
    var examples = examplesOf(form);
    var text = form.elements.body.value;
    header.textContent = form.elements.header.value.trim();
    header.hidden = !header.textContent;
    footer.textContent = form.elements.footer.value.trim();
    footer.hidden = !footer.textContent;
    bodyEl.textContent = "";
    bodyEl.classList.toggle("muted", !text.trim());
    if (!text.trim()) { bodyEl.textContent = T("meta_preview_empty"); return; }
    var pattern = /\{\{\s*(\w+)\s*\}\}/g;
    var last = 0;
    var m;
    while ((m = pattern.exec(text)) !== null) {
      bodyEl.appendChild(document.createTextNode(text.slice(last, m.index)));
      var n = parseInt(m[1], 10);
      var filled = !isNaN(n) && examples[n - 1];
      bodyEl.appendChild(el("mark", "preview-var", filled ? examples[n - 1] : m[0]));
      last = pattern.lastIndex;
    }
    bodyEl.appendChild(document.createTextNode(text.slice(last)));
  }

  document.querySelectorAll("form.template-create").forEach(function (form) {
    var list = form.parentNode.querySelector("ul[data-templates]");
    form.addEventListener("input", function () { paintPreview(form); });
    paintPreview(form);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      C.clearErrors(form);
      var submit = form.querySelector('[type="submit"]');
      submit.disabled = true;
      var body = {
        name: form.elements.name.value.trim(),
        category: form.elements.category.value,
        language: form.elements.language.value.trim(),
        header: form.elements.header.value,
        body: form.elements.body.value,
        footer: form.elements.footer.value,
        examples: examplesOf(form)
      };
      C.api("POST", form.dataset.url, body).then(function (res) {
        submit.disabled = false;
        if (!res.ok) { C.showErrors(form, res, "form"); return; }
        C.flash(T("meta_template_created", { name: res.data.name, status: statusLabel(res.data.status) }));
        form.reset();
        paintPreview(form);
        loadTemplates(list);
      });
    });
  });
})();
