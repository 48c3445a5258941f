// core_server browse pages: log in/out, load the column summary, send document forms.
// Tables, filters and paging work without this script; writes need it (JSON + CSRF header).
(function () {
  "use strict";
  var root = document.body.dataset.root || "";

  function csrf() {
    var m = document.cookie.match(/(?:^|; )core_server_csrf=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  function send(method, url, body, headers) {
    var h = { "Accept": "application/json", "X-CSRF-Token": csrf() };
    if (body !== undefined) { h["Content-Type"] = "application/json"; }
    Object.keys(headers || {}).forEach(function (k) { h[k] = headers[k]; });
    return fetch(url, { method: method, headers: h, credentials: "same-origin",
                        body: body === undefined ? undefined : JSON.stringify(body) })
      .then(function (r) {
        return r.text().then(function (t) {
          var data = null;
          try { data = t ? JSON.parse(t) : null; } catch (e) { data = null; }
          return { ok: r.ok, status: r.status, data: data };
        });
      });
  }

  function showError(form, answer) {
    var box = form.querySelector(".form-error");
    var e = (answer.data && answer.data.error) || { message: "HTTP " + answer.status };
    var text = e.status ? e.status + " " + e.code + ": " + e.message : e.message;
    if (e.hint) { text += " (" + e.hint + ")"; }
    (e.details || []).forEach(function (d) { text += "\n" + (d.path || "") + " " + (d.message || ""); });
    box.textContent = text;
    box.hidden = false;
  }

  var login = document.getElementById("login-form");
  if (login) {
    login.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var body = { username: login.username.value, password: login.password.value };
      send("POST", login.action, body).then(function (a) {
        if (!a.ok) { return showError(login, a); }
        location.href = root + (login.dataset.next || "/browse/");
      });
    });
  }

  var logout = document.getElementById("logout");
  if (logout) {
    logout.addEventListener("click", function () {
      send("POST", root + "/api/logout").then(function () { location.reload(); });
    });
  }

  document.querySelectorAll("[data-fragment]").forEach(function (el) {
    fetch(el.dataset.fragment, { headers: { "X-Fragment": "1" }, credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (html) { el.innerHTML = html; el.classList.add("loaded"); });
  });

  function formValue(input) {
    var kind = input.dataset.kind;
    if (kind === "bool") { return input.checked; }
    var v = input.value.trim();
    if (v === "") { return null; }
    if (kind === "number") { return Number(v); }
    if (kind === "json") { return JSON.parse(v); }
    return v;
  }

  document.querySelectorAll("form.doc-form").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var body = {};
      try {
        form.querySelectorAll("[name]").forEach(function (input) {
          var v = formValue(input);
          // a new document leaves empty fields out; an edit removes them (merge patch: null)
          if (v !== null || form.dataset.method !== "POST") { body[input.name] = v; }
        });
      } catch (e) {
        return showError(form, { status: 0, data: { error: { message: "invalid JSON: " + e.message } } });
      }
      var headers = form.dataset.version ? { "If-Match": '"' + form.dataset.version + '"' } : {};
      send(form.dataset.method, form.dataset.action, body, headers).then(function (a) {
        if (!a.ok) { return showError(form, a); }
        if (form.dataset.method === "POST") {
          location.href = form.dataset.redirect + "/" + encodeURIComponent(a.data._id);
        } else {
          location.reload();
        }
      });
    });
  });

  var del = document.getElementById("delete-doc");
  if (del) {
    del.addEventListener("click", function () {
      if (!window.confirm("Delete this document?")) { return; }
      send("DELETE", del.dataset.action, undefined, { "If-Match": '"' + del.dataset.version + '"' })
        .then(function (a) {
          if (a.ok) { location.href = del.dataset.redirect; } else { window.alert((a.data && a.data.error && a.data.error.message) || a.status); }
        });
    });
  }
})();
