/* consentproxy guard: loaded before the site's own scripts, it holds back what
   first-party code loads at run time for services the visitor has not consented to
   (scripts, images, iframes, beacons, fetch/XHR) and the cookies of those services.
   Held elements are marked exactly like the proxy marks markup, so the banner
   activates both the same way. The proxy serves this file with CONFIG filled in. */
(function () {
  "use strict";
  var CONFIG = __CONSENTPROXY_CONFIG__;
  var me = document.currentScript;
  var state = { decided: false, categories: [], services: [] };
  try {
    state = JSON.parse(me.getAttribute("data-consentproxy-state")) || state;
  } catch (e) { /* keep "no decision" */ }

  var URL_ATTRS = {
    script: ["src"], iframe: ["src"], frame: ["src"], img: ["src", "srcset"],
    link: ["href"], embed: ["src"], object: ["data"], source: ["src", "srcset"],
    video: ["src", "poster"], audio: ["src"], track: ["src"], input: ["src"]
  };
  var nativeSetAttribute = Element.prototype.setAttribute;
  var nativeGetAttribute = Element.prototype.getAttribute;

  function has(list, x) { return list.indexOf(x) !== -1; }
  function allowsCategory(cat) {
    return has(CONFIG.required, cat) || (state.decided && has(state.categories, cat));
  }
  function allowsService(svc) {
    return allowsCategory(svc[1]) || (state.decided && has(state.services, svc[0]));
  }

  /* The knowledge base's domains by category: Golomb-coded sets (banner/domainset.py),
     decoded once into Sets of 32-bit FNV-1a hashes modulo each set's span. */
  function fnv(text) {
    var h = 0x811c9dc5;
    for (var i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    return h >>> 0;
  }
  var known = Object.keys(CONFIG.known).map(function (cat) {
    var span = CONFIG.known[cat][0], code = CONFIG.known[cat][1], cut = code.lastIndexOf("~");
    var raw = atob(code.slice(0, cut)), n = +code.slice(cut + 1), pos = 0, last = 0;
    var values = new Set();
    function bit() { var b = (raw.charCodeAt(pos >> 3) >> (7 - (pos & 7))) & 1; pos++; return b; }
    for (var k = 0; k < n; k++) {
      var q = 0, r = 0, j;
      while (bit()) q++;
      for (j = 0; j < 16; j++) r = r * 2 + bit();
      last += q * 65536 + r;
      values.add(last);
    }
    return [cat, span, values];
  });
  var site = me.getAttribute("data-consentproxy-site") || "";
  function own(host, domain) {
    return host === domain || host.slice(-domain.length - 1) === "." + domain;
  }
  function knownOf(host) {  /* [host, category], false (known, never held) or null */
    /* every listed domain has a dot: the top-level label alone is never looked up */
    for (var name = host; name.indexOf(".") !== -1; name = name.slice(name.indexOf(".") + 1)) {
      var h = fnv(name);
      for (var k = 0; k < known.length; k++) {
        if (known[k][2].has(h % known[k][1])) return known[k][0] ? [host, known[k][0]] : false;
      }
    }
    return null;
  }
  function serviceOf(url) {
    var u;
    try { u = new URL(url, document.baseURI); } catch (e) { return null; }
    if (!/^(https?|wss?):$/.test(u.protocol)) return null;
    var host = u.hostname.replace(/\.$/, "").toLowerCase(), i;
    for (i = 0; i < CONFIG.paths.length; i++) {
      var p = CONFIG.paths[i];
      if (p[0] === host && u.pathname.indexOf(p[1]) === 0) return CONFIG.services[p[2]];
    }
    if (Object.prototype.hasOwnProperty.call(CONFIG.hosts, host)) {
      return CONFIG.services[CONFIG.hosts[host]];
    }
    for (i = host.indexOf("."); i !== -1; i = host.indexOf(".", i + 1)) {
      var suffix = host.slice(i + 1);
      if (Object.prototype.hasOwnProperty.call(CONFIG.wild, suffix)) {
        return CONFIG.services[CONFIG.wild[suffix]];
      }
    }
    /* Off the site's own domain: a known tracker, else an unknown third party. */
    if (site && own(host, site)) return null;
    var hit = knownOf(host), third = CONFIG.thirdParties;
    if (hit !== null) return hit || null;
    if (!third || !site || third[1].some(function (a) {
      return a === host || (a.indexOf("*.") === 0 && own(host, a.slice(2)));
    })) return null;
    return [host, third[0]];
  }
  function blockedService(attr, value) {
    var urls = /srcset$/.test(attr)
      ? String(value).split(",").map(function (c) { return c.trim().split(/\s+/)[0]; })
      : [String(value)];
    for (var i = 0; i < urls.length; i++) {
      var svc = urls[i] && serviceOf(urls[i]);
      if (svc && !allowsService(svc)) return svc;
    }
    return null;
  }

  function hold(el, attr, value, svc) {
    nativeSetAttribute.call(el, "data-consent-" + attr, value);
    nativeSetAttribute.call(el, "data-consent-blocked", svc[0]);
    nativeSetAttribute.call(el, "data-consent-blocked-category", svc[1]);
    if (el.localName === "script" && nativeGetAttribute.call(el, "type") !== "text/plain") {
      var type = nativeGetAttribute.call(el, "type");
      if (type !== null) nativeSetAttribute.call(el, "data-consent-type", type);
      nativeSetAttribute.call(el, "type", "text/plain");
    }
  }
  function guarded(el, attr) {
    var attrs = URL_ATTRS[el.localName];
    return attrs && has(attrs, attr);
  }

  Element.prototype.setAttribute = function (name, value) {
    var attr = String(name).toLowerCase(), svc;
    if (guarded(this, attr) && (svc = blockedService(attr, value))) {
      return hold(this, attr, String(value), svc);
    }
    return nativeSetAttribute.call(this, name, value);
  };

  [[window.HTMLScriptElement, "src"], [window.HTMLIFrameElement, "src"],
   [window.HTMLFrameElement, "src"], [window.HTMLImageElement, "src"],
   [window.HTMLImageElement, "srcset"], [window.HTMLLinkElement, "href"],
   [window.HTMLEmbedElement, "src"], [window.HTMLObjectElement, "data"],
   [window.HTMLSourceElement, "src"], [window.HTMLSourceElement, "srcset"],
   [window.HTMLMediaElement, "src"], [window.HTMLVideoElement, "poster"],
   [window.HTMLTrackElement, "src"], [window.HTMLInputElement, "src"]
  ].forEach(function (pair) {
    var proto = pair[0] && pair[0].prototype, attr = pair[1];
    var d = proto && Object.getOwnPropertyDescriptor(proto, attr);
    if (!d || !d.set) return;
    Object.defineProperty(proto, attr, {
      configurable: true, enumerable: d.enumerable, get: d.get,
      set: function (value) {
        var svc = blockedService(attr, value);
        if (svc) hold(this, attr, String(value), svc); else d.set.call(this, value);
      }
    });
  });

  var nativeFetch = window.fetch;
  if (nativeFetch) {
    window.fetch = function (input) {
      var url = input && typeof input === "object" && "url" in input ? input.url : input;
      if (blockedService("src", url)) {
        return Promise.reject(new TypeError("consentproxy: no consent for " + url));
      }
      return nativeFetch.apply(this, arguments);
    };
  }
  var nativeOpen = XMLHttpRequest.prototype.open;
  var nativeSend = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.open = function (method, url) {
    this.__consentHeld = !!blockedService("src", url);
    return nativeOpen.apply(this, arguments);
  };
  XMLHttpRequest.prototype.send = function () {
    if (!this.__consentHeld) return nativeSend.apply(this, arguments);
  };
  if (navigator.sendBeacon) {
    var nativeBeacon = navigator.sendBeacon.bind(navigator);
    navigator.sendBeacon = function (url, data) {
      return blockedService("src", url) ? false : nativeBeacon(url, data);
    };
  }

  function cookieCategory(name) {
    if (Object.prototype.hasOwnProperty.call(CONFIG.cookies, name)) return CONFIG.cookies[name];
    for (var i = 0; i < CONFIG.patterns.length; i++) {
      if (new RegExp("^(?:" + CONFIG.patterns[i][0] + ")$").test(name)) {
        return CONFIG.patterns[i][1];
      }
    }
    return null;
  }
  function cookieAllowed(text) {
    var name = text.split(";")[0].split("=")[0].trim();
    if (/;\s*max-age\s*=\s*(0|-)/i.test(text)) return true;  /* deleting is always fine */
    var expires = /;\s*expires\s*=([^;]*)/i.exec(text);
    if (expires && Date.parse(expires[1]) < Date.now()) return true;
    var cat = cookieCategory(name);
    if (cat === null) {
      if (CONFIG.unknown === "allow") return true;
      if (CONFIG.unknown === "block") return false;
      cat = CONFIG.unknown;
    }
    return allowsCategory(cat);
  }
  var cookie = Object.getOwnPropertyDescriptor(Document.prototype, "cookie");
  if (cookie && cookie.set) {
    Object.defineProperty(document, "cookie", {
      configurable: true,
      get: function () { return cookie.get.call(document); },
      set: function (value) { if (cookieAllowed(String(value))) cookie.set.call(document, value); }
    });
  }

  /* On withdrawal: expire every cookie the page can reach that the new state does not
     allow, under every path and domain a tracker may have set it with (the proxy
     deletes the rest, HttpOnly ones included, on the next response). */
  function deleteCookies() {
    if (!cookie || !cookie.set) return;
    var host = location.hostname, paths = ["/"], domains = [""], parts = host.split(".");
    location.pathname.split("/").reduce(function (acc, seg) {
      if (!seg) return acc;
      acc += "/" + seg;
      paths.push(acc, acc + "/");
      return acc;
    }, "");
    for (var i = 0; i < parts.length - 1; i++) domains.push("; domain=" + parts.slice(i).join("."));
    String(cookie.get.call(document)).split(";").forEach(function (pair) {
      var name = pair.split("=")[0].trim();
      if (!name || cookieAllowed(name + "=")) return;
      paths.forEach(function (path) {
        domains.forEach(function (domain) {
          cookie.set.call(document, name + "=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=" +
            path + domain);
        });
      });
    });
  }

  /* Google Consent Mode v2: the default (denied but for the required categories' signals)
     goes into the dataLayer before any Google tag can read it, then an update from the
     visitor's choice, now and on every change. */
  function consentMode(kind) {
    if (!CONFIG.consentMode) return;
    var signals = {};
    Object.keys(CONFIG.consentMode).forEach(function (signal) {
      var granted = CONFIG.consentMode[signal].some(allowsCategory); /* required: always */
      signals[signal] = granted ? "granted" : "denied";
    });
    if (kind === "default") signals.wait_for_update = 500;
    window.dataLayer = window.dataLayer || [];
    (function () { window.dataLayer.push(arguments); })("consent", kind, signals);
  }
  consentMode("default");
  if (state.decided) consentMode("update");

  var listeners = [];
  function copy(s) {
    return { decided: !!s.decided, categories: (s.categories || []).slice(),
             services: (s.services || []).slice() };
  }

  /* The page's API (documented in the README): get(), open(), onChange(cb), and a
     consent:change event on document. */
  window.consentproxy = {
    get: function () { return copy(state); },
    onChange: function (cb) {
      listeners.push(cb);
      return function () { listeners = listeners.filter(function (l) { return l !== cb; }); };
    },
    open: function () { window.consentproxy.pendingOpen = true; }, /* until the banner is up */
    setState: function (next) {
      state = next;
      consentMode("update");
      var detail = copy(next);
      listeners.forEach(function (cb) {
        try { cb(detail); } catch (e) { setTimeout(function () { throw e; }); }
      });
      document.dispatchEvent(new CustomEvent("consent:change", { detail: detail }));
    },
    serviceOf: serviceOf,
    allowsService: allowsService,
    deleteCookies: deleteCookies,
    setAttribute: function (el, name, value) { nativeSetAttribute.call(el, name, value); }
  };
})();
