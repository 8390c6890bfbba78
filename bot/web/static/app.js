// The Mini App's page script: reads Telegram's launch parameters from the URL fragment, sends initData
// with every request, and puts the server's HTML into the page. Nothing is loaded from elsewhere.
(function () {
  "use strict";
  var KEY = "studio.initData", THEME = "studio.theme", FILTERS = "studio.filters";
  var base = document.body.dataset.base || "";
  var main = document.getElementById("page");
  var viewer = document.getElementById("viewer");
  var blobs = [];

  function launch() {
    var params = new URLSearchParams(location.hash.slice(1));
    var data = params.get("tgWebAppData");
    if (data) {
      sessionStorage.setItem(KEY, data);
      var theme = params.get("tgWebAppThemeParams");
      if (theme) sessionStorage.setItem(THEME, theme);
      history.replaceState(null, "", location.pathname + location.search);  // the fragment is not kept
    }
    applyTheme(sessionStorage.getItem(THEME));
  }

  function applyTheme(raw) {
    if (!raw) return;
    var theme;
    try { theme = JSON.parse(raw); } catch (e) { return; }
    var names = ["bg_color", "text_color", "hint_color", "link_color", "button_color", "button_text_color",
                 "secondary_bg_color", "section_bg_color", "accent_text_color", "destructive_text_color"];
    names.forEach(function (n) {
      if (typeof theme[n] === "string" && /^#[0-9a-fA-F]{3,8}$/.test(theme[n])) {
        document.documentElement.style.setProperty("--tg-" + n.replace(/_/g, "-"), theme[n]);
      }
    });
    document.documentElement.classList.add("tg-theme");
  }

  function headers(extra) {
    var h = {"X-Telegram-Init-Data": sessionStorage.getItem(KEY) || ""};
    for (var k in extra || {}) h[k] = extra[k];
    return h;
  }

  function api(path, options) {
    options = options || {};
    options.headers = headers(options.headers);
    options.credentials = "omit";
    return fetch(base + "/api" + path, options);
  }

  function route() {
    var path = location.pathname.slice(base.length) || "/";
    return path === "/" || path === "" ? "/home" : path;
  }

  function say(text) {
    main.innerHTML = "";
    var p = document.createElement("p");
    p.className = "refused";
    p.textContent = text;
    main.appendChild(p);
  }

  function load() {
    var path = route();
    var options = {};
    if (path === "/overview") {
      options = {method: "POST", body: sessionStorage.getItem(FILTERS) || "{}",
                 headers: {"Content-Type": "application/json"}};
    }
    return api(path, options).then(function (res) {
      if (res.status === 401) {
        say("请从 Telegram 中打开本页面（登录信息缺失或已过期）。 · Please open this page from Telegram (sign-in missing or expired).");
        return;
      }
      return res.text().then(function (html) {
        blobs.forEach(URL.revokeObjectURL);
        blobs = [];
        main.innerHTML = html;
        hydrate();
        document.body.dataset.ready = "1";
      });
    }).catch(function () { say("网络错误，请重试。 · Network error, please try again."); });
  }

  function fileBlob(id) {
    return api("/file/" + id).then(function (res) {
      if (!res.ok) throw new Error(String(res.status));
      return res.blob();
    }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      blobs.push(url);
      return url;
    });
  }

  function hydrate() {
    var imgs = main.querySelectorAll("img[data-file]");
    Array.prototype.forEach.call(imgs, function (img) {
      fileBlob(img.dataset.file).then(function (url) { img.src = url; img.dataset.loaded = "1"; },
                                      function () { img.classList.add("failed"); });
    });
    var tabs = main.querySelectorAll("[data-tab]");
    Array.prototype.forEach.call(tabs, function (tab) {
      tab.addEventListener("click", function () {
        Array.prototype.forEach.call(tabs, function (x) { x.classList.toggle("on", x === tab); });
        Array.prototype.forEach.call(main.querySelectorAll("form[data-decide]"), function (f) {
          f.hidden = f.dataset.action !== tab.dataset.tab;
        });
      });
    });
  }

  function navigate(path) {
    history.pushState(null, "", base + path);
    window.scrollTo(0, 0);
    load();
  }

  function filters(form) {
    var data = {};
    new FormData(form).forEach(function (v, k) { data[k] = String(v); });
    return data;
  }

  function download(path, body, name) {
    api(path, {method: "POST", body: body, headers: {"Content-Type": "application/json"}}).then(function (res) {
      if (!res.ok) throw new Error(String(res.status));
      return res.blob();
    }).then(function (blob) {
      var a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = name;
      document.body.appendChild(a);
      a.click();
      a.remove();
    });
  }

  function decide(form, button) {
    var body = {action: form.dataset.action, status: form.elements.status.value, reopen: []};
    ["opinion", "on"].forEach(function (n) { if (form.elements[n]) body[n] = form.elements[n].value; });
    Array.prototype.forEach.call(form.querySelectorAll("input[name=reopen]:checked"), function (x) {
      body.reopen.push(x.value);
    });
    send(form, button, "/app/" + form.dataset.decide + "/decide", body);
  }

  function send(form, button, path, body) {
    var result = form.querySelector(".result");
    button.disabled = true;
    api(path, {
      method: "POST", body: JSON.stringify(body), headers: {"Content-Type": "application/json"}
    }).then(function (res) {
      return res.json().then(function (data) {
        result.textContent = data.message || data.error || String(res.status);
        result.className = "result " + (res.ok ? "ok" : "bad");
        if (res.ok) setTimeout(load, 1200); else button.disabled = false;
      });
    }).catch(function () { button.disabled = false; });
  }

  function recordMeeting(form, button) {
    var body = {year: form.dataset.meeting, held_on: form.elements.held_on.value, kind: form.elements.kind.value,
                minute: form.elements.minute.value, outcomes: {}, reasons: {}, names: {}};
    Array.prototype.forEach.call(form.querySelectorAll(".candidate"), function (li) {
      var id = li.dataset.app;
      var chosen = li.querySelector("input[type=radio]:checked");
      body.outcomes[id] = chosen ? chosen.value : "defer";
      body.reasons[id] = form.elements["r" + id].value;
      body.names[id] = form.elements["n" + id].value;
    });
    send(form, button, "/meetings/record", body);
  }

  document.addEventListener("click", function (ev) {
    var el = ev.target.closest("[data-nav],[data-full],[data-open],[data-xlsx],[data-status]");
    if (!el) {
      if (!viewer.hidden && (ev.target === viewer || ev.target.closest(".close"))) viewer.hidden = true;
      return;
    }
    if (el.dataset.status !== undefined) {
      ev.preventDefault();
      var f = JSON.parse(sessionStorage.getItem(FILTERS) || "{}");
      f.status = el.dataset.status;
      sessionStorage.setItem(FILTERS, JSON.stringify(f));
      load();
    } else if (el.dataset.nav !== undefined) {
      ev.preventDefault();
      navigate(el.dataset.nav);
    } else if (el.dataset.full !== undefined) {
      var img = el.querySelector("img");
      viewer.querySelector("img").src = img ? img.src : "";
      viewer.querySelector("img").alt = img ? img.alt : "";
      viewer.hidden = false;
    } else if (el.dataset.open !== undefined) {
      var w = window.open("", "_blank");
      fileBlob(el.dataset.open).then(function (url) { if (w) w.location = url; else location.assign(url); });
    } else if (el.dataset.xlsx !== undefined) {
      var form = el.closest("form");
      var data = filters(form);
      download("/overview.xlsx", JSON.stringify(data), "overview-" + (data.season || "") + ".xlsx");
    }
  });

  document.addEventListener("keydown", function (ev) { if (ev.key === "Escape") viewer.hidden = true; });

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    ev.preventDefault();
    if (form.dataset.filter !== undefined) {
      sessionStorage.setItem(FILTERS, JSON.stringify(filters(form)));
      load();
    } else if (form.dataset.decide !== undefined) {
      decide(form, form.querySelector("button[type=submit]"));
    } else if (form.dataset.meeting !== undefined) {
      recordMeeting(form, form.querySelector("button[type=submit]"));
    }
  });

  // Telegram's documented web events: the page is ready, and may use the whole height
  function postEvent(type, data) {
    var body = JSON.stringify(data || {});
    try {
      if (window.TelegramWebviewProxy) window.TelegramWebviewProxy.postEvent(type, body);
      else if (window.parent !== window) {
        window.parent.postMessage(JSON.stringify({eventType: type, eventData: data || {}}), "https://web.telegram.org");
      }
    } catch (e) { /* outside Telegram: nothing to tell */ }
  }

  window.addEventListener("popstate", load);
  launch();
  load().then(function () { postEvent("web_app_ready"); postEvent("web_app_expand"); });
})();
