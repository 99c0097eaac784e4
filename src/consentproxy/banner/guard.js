/* consentproxy guard: loaded before the site's own scripts, it holds back what
   first-party code loads at run time for services the visitor has not consented to
   (elements and their URLs however they are set, markup however it is written, CSS,
   fetch/XHR, beacons, sockets, workers, worklets, the Cache API, same-origin frames' own
   windows) and the cookies of those services. Held elements are marked exactly like the
   proxy marks markup, with the response's mark, so the banner activates both the same way
   and nothing else.
   What no script can hook is listed in docs/SECURITY.md: `csp: enforce` is the guarantee.
   The proxy serves this file and banner.js right after it inside one function
   (render.script_source), whose CONFIG is the policy's tables: banner.js gets the guard's
   own tools as `guard`, a variable of that function's, which no script of the page's
   reaches. */
var guard = (function () {
  "use strict";
  /* One guard a window: another copy (the site's markup may carry one, with a state and
     a mark of its own making) does nothing. */
  if (Object.prototype.hasOwnProperty.call(window, "consentproxy")) return;
  var me = document.currentScript;
  var state = { decided: false, categories: [], services: [] };
  try {
    state = JSON.parse(me.getAttribute("data-consentproxy-state")) || state;
  } catch (e) { /* keep "no decision" */ }
  /* The response's mark, on each element the proxy neutralised in it: read from this
     script's own tag before any of the page's markup exists. The guard's holds carry it
     too; fragments fetched later hand theirs over in a response header. */
  var PRE = "data-consent-", HEADER = "x-consent-mark";
  var MARK = me && me.getAttribute("data-consentproxy-mark") ||
    crypto.getRandomValues(new Uint32Array(3)).join("-");
  var marks = {};
  marks[MARK] = 1;
  var HELD = {}, DONE = Symbol("consentproxy");
  /* The page's own inline scripts that threw as the page loaded: one may have used what a
     held script defines (a function of the site's kept beside a tracker's URL). The banner
     runs those after a held script again once it brings that script back. (A call of a
     held service's global the catalog names, ga(...), no longer throws: its stand-in keeps
     it, below, and replays it instead.) */
  var failed = [];
  window.addEventListener("error", function () {
    var s = document.currentScript;
    if (s && s.localName === "script" && !s.hasAttribute("src") && document.readyState !== "complete" &&
        nativeGetAttribute.call(s, PRE + "blocked") === null && failed.indexOf(s) === -1) failed.push(s);
  }, true);

  var URL_ATTRS = {
    script: ["src", "href"], iframe: ["src", "srcdoc"], frame: ["src"], img: ["src", "srcset"],
    image: ["href", "src"], feimage: ["href"], link: ["href", "imagesrcset"], embed: ["src"],
    object: ["data"], source: ["src", "srcset"], video: ["src", "poster"], audio: ["src"],
    track: ["src"], input: ["src"], base: ["href"], a: ["ping"], area: ["ping"]
  };
  ["body", "table", "thead", "tbody", "tfoot", "tr", "td", "th", "col", "colgroup"]
    .forEach(function (n) { URL_ATTRS[n] = ["background"]; });
  /* SVG animations of an href load what they set it to (the proxy asks for an attributeName
     of href; here whatever they animate: a script may name it after the values). */
  URL_ATTRS.set = URL_ATTRS.animate = ["to", "values", "from", "by"];
  var DOCUMENTS = /^(i?frame|object|embed)$/;
  var nativeSetAttribute = Element.prototype.setAttribute;
  var nativeGetAttribute = Element.prototype.getAttribute;
  /* Taken before any page script can replace it (the banner posts choices with it). */
  var nativeFetch = window.fetch;
  /* (brand checks: an ArrayBuffer or a view of one, no object posing as either) */
  var isView = ArrayBuffer.isView, sliceBytes = ArrayBuffer.prototype.slice;

  /* A value as a sink reads it, read once: an object's toString may answer otherwise the
     next time (the check saw a URL of the site's, the browser loaded a tracker's). A Trusted
     Type stays itself (a page requiring them refuses a string). */
  var TT = window.trustedTypes, trusted = TT ? [TT.isHTML, TT.isScript, TT.isScriptURL] : [];
  function once(v) {
    return Object(v) !== v || trusted.some(function (is) { return is.call(TT, v); }) ? v : String(v);
  }
  function has(list, x) { return list.indexOf(x) !== -1; }
  function own(o, k) { return Object.prototype.hasOwnProperty.call(o, k); }
  /* asking: only what is required is allowed while the banner asks whether the state
     still holds (a page back from the browser's cache); the state itself stays. */
  var asking = false;
  function allowsCategory(cat) {
    return has(CONFIG.required, cat) || (!asking && state.decided && has(state.categories, cat));
  }
  function allowsService(svc) {
    return allowsCategory(svc[1]) || (!asking && state.decided && has(state.services, svc[0]));
  }

  /* The knowledge base's domains by category: one Golomb-coded set whose values carry their
     category (banner/domainset.py), six bits a character of CONFIG.digits, decoded once
     into a Map of 32-bit FNV-1a hashes modulo its span. */
  function fnv(text) {
    var h = 0x811c9dc5;
    for (var i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    return h >>> 0;
  }
  var KNOWN = CONFIG.known, known = new Map();
  (function () {  /* (the digits decoded are let go once read) */
    var raw = [].map.call(KNOWN[4], function (c) { return CONFIG.digits.indexOf(c); }), pos = 0, last = 0;
    function bit() { var b = (raw[pos / 6 | 0] >> (5 - pos % 6)) & 1; pos++; return b; }
    for (var k = 0; k < KNOWN[2]; k++) {
      var r = 0, c = 0, j;
      while (bit()) r++;  /* [span, rice, count, keys, code]: gaps, Rice-coded, and their key */
      for (j = 0; j < KNOWN[1]; j++) r = r * 2 + bit();
      while (c < KNOWN[3].length - 1 && bit()) c++;
      known.set(last += r, KNOWN[3][c]);
    }
  })();
  var site = me && me.getAttribute("data-consentproxy-site") || "";
  function under(host, domain) {
    return host === domain || host.slice(-domain.length - 1) === "." + domain;
  }
  function knownOf(host) {  /* [host, category], false (known, never held) or null */
    /* every listed domain has a dot: the top-level label alone is never looked up */
    for (var name = host; name.indexOf(".") !== -1; name = name.slice(name.indexOf(".") + 1)) {
      var cat = known.get(fnv(name) % KNOWN[0]);
      if (cat !== undefined) return cat ? [host, cat] : false;
    }
    return null;
  }
  /* Whether a path starts with a hosts entry's path, where a "*" segment is any one
     non-empty segment (a locale: connect.facebook.net, "/*" "/sdk.js"), as
     knowledge.on_path reads it. */
  function underPath(path, prefix) {
    var want = prefix.split("/"), got = path.split("/"), last = want.length - 1;
    return got.length > last && want.every(function (w, i) {
      return w === "*" ? !!got[i] : i < last ? got[i] === w : got[i].indexOf(w) === 0;
    });
  }
  /* A URL's path as its origin reads it to serve a file (knowledge.served_path, the same):
     %-escapes decoded, runs of "/" as one, dot segments resolved after decoding, where URL
     sent "/js/..%2Fmatomo/m.js" or "//matomo/m.js" as they are. */
  function servedPath(path) {
    try { path = decodeURIComponent(path); } catch (e) {  /* not UTF-8: byte by byte */
      path = path.replace(/%[\da-f]{2}/gi, function (m) { return String.fromCharCode(parseInt(m.slice(1), 16)); });
    }
    var kept = [], got = path.split("/"), last = got[got.length - 1];
    got.forEach(function (s) {
      if (s === "..") kept.pop(); else if (s && s !== ".") kept.push(s);
    });
    return "/" + kept.join("/") + (kept.length && /^\.{0,2}$/.test(last) ? "/" : "");
  }
  /* [service, category] a URL belongs to, as the proxy's policy decides; path prefixes
     compare the path a server reads. */
  function serviceOf(url, base) {
    var u;
    try { u = new URL(url, base || document.baseURI); } catch (e) { return null; }
    if (!/^(https?|wss?):$/.test(u.protocol)) return null;
    var host = u.hostname.replace(/\.$/, "").toLowerCase(), i, path = servedPath(u.pathname);
    for (i = 0; i < CONFIG.paths.length; i++) {
      var p = CONFIG.paths[i];
      if (p[0] === host && underPath(path, p[1])) return CONFIG.services[p[2]];
    }
    if (own(CONFIG.hosts, host)) return CONFIG.services[CONFIG.hosts[host]];
    for (i = host.indexOf("."); i !== -1; i = host.indexOf(".", i + 1)) {
      var suffix = host.slice(i + 1);
      if (own(CONFIG.wild, suffix)) return CONFIG.services[CONFIG.wild[suffix]];
    }
    /* Off the site's own domain: a known tracker, else an unknown third party. */
    if (site && under(host, site)) return null;
    var hit = knownOf(host), third = CONFIG.thirdParties;
    if (hit !== null) return hit || null;
    if (!third || !site || third[1].some(function (a) {
      return a === host || (a.indexOf("*.") === 0 && under(host, a.slice(2)));
    })) return null;
    return [host, third[0]];
  }
  /* svc[2]: a Google tag in Consent Mode's advanced mode loads before consent (its
     cookies still wait, see the cookie guard). */
  function blockedUrl(url, base) {
    if (url) layerOf(String(url));
    var svc = url && serviceOf(String(url), base);
    return svc && !svc[2] && !allowsService(svc) ? svc : null;
  }
  /* The text a data: or javascript: URL makes a frame show. */
  function frameText(v) {
    /* (the URL parser drops tabs and newlines anywhere: "java\tscript:") */
    var m = /^[\s\x00-\x20]*(?:data:([^,]*),|javascript:)([\s\S]*)/i.exec(v.replace(/[\t\n\r]/g, "")),
      t = m && m[2];
    if (!m) return null;
    try { t = decodeURIComponent(t); } catch (e) { /* as it is */ }
    try { if (/base64$/i.test(m[1])) t = atob(t); } catch (e) { /* as it is */ }
    return t;
  }
  /* The blocked service setting attr to value on el loads, if any. */
  /* into: the document markup parsed away from the page goes into (a template's contents
     have a base of about:blank, against which "//host/x" and "x.gif" name nothing). */
  function blocked(el, attr, value, depth, into) {
    var v = String(value), doc = into || el.ownerDocument, base = doc.baseURI, i, svc;
    if (attr === "srcdoc") return markupService(v, doc, depth);
    var urls = /srcset$/.test(attr) ? v.split(",").map(function (c) { return c.trim().split(/\s+/)[0]; })
      : attr === "ping" ? v.trim().split(/\s+/) : attr === "values" ? v.split(";") : [v];
    for (i = 0; i < urls.length; i++) if ((svc = blockedUrl(urls[i], base))) return svc;
    var text = DOCUMENTS.test(el.localName) && frameText(v);
    return text ? markupService(text, doc, depth) : null;
  }
  function guarded(el, attr) {
    var attrs = el.localName && URL_ATTRS[el.localName.toLowerCase()];
    return attrs && has(attrs, attr);
  }

  /* Mark el as held for svc: the site's own data-consent-* renamed (as the proxy does),
     the response's mark, and a script made inert. Held for several services, it names the
     first and waits for all their categories ("a+b", as the proxy marks one): named after
     the last, that one's consent alone put back the others' URLs. */
  function mark(el, svc) {
    var set = function (n, v) { nativeSetAttribute.call(el, n, v); }, a = el.attributes, i, n;
    if (nativeGetAttribute.call(el, PRE + "mark") !== MARK) {
      for (i = a.length - 1; i >= 0; i--) {
        n = a[i].name;
        if (!n.indexOf(PRE) && n !== PRE + "action") {
          set("data-site-consent-" + n.slice(PRE.length), a[i].value);
          el.removeAttribute(n);
        }
      }
      set(PRE + "mark", MARK);
    } else if ((n = nativeGetAttribute.call(el, PRE + "blocked"))) {
      svc = both([n, nativeGetAttribute.call(el, PRE + "blocked-category")], svc);
    }
    set(PRE + "blocked", svc[0]);
    set(PRE + "blocked-category", svc[1]);
    var type = nativeGetAttribute.call(el, "type");
    if (el.localName === "script" && type !== "text/plain") {
      if (type !== null) set(PRE + "type", type);
      set("type", "text/plain");
    }
    return HELD;
  }
  /* Held for a (if any) and b: a's name and all their categories, b's once more if a has it alone
     (a second service's: its consent alone is not enough). */
  function both(a, b) {
    return a[0] === b[0] || ~(a[1] + "+").indexOf("+" + b[1] + "+") ? a : [a[0], a[1] + "+" + b[1]];
  }
  function hold(el, attr, value, svc) {
    mark(el, svc);
    nativeSetAttribute.call(el, PRE + attr, value);
    return HELD;
  }
  /* What setting attribute name to value on el comes to: HELD, or the value to set. */
  function attribute(el, name, value) {
    var a = String(name).toLowerCase(), svc;
    value = once(value);
    if (a === "style") return css(value);
    if (guarded(el, a) && (svc = blocked(el, a, value, 0))) return hold(el, a, String(value), svc);
    return value;
  }

  /* CSS with the URLs of services not consented to made inert, as the proxy does. */
  function css(text) {
    text = once(text);
    if (text === null || text === undefined || !/\/\/|:/.test(text)) return text;
    return String(text).replace(/(url\(\s*|["'])([^"')]+)/gi, function (all, before, url) {
      /* (escapes read: an unparsed value's text is `https\:\/\/...`, its URL to Chromium) */
      return blockedUrl(url.trim().replace(/\\([^\n\da-f])/gi, "$1")) ? before + "about:invalid" : all;
    });
  }
  /* An inline script whose text declares or imports a blocked URL (an import map,
     speculation rules, a module's import): the service, if any. */
  function scriptService(el, text) {
    var type = (nativeGetAttribute.call(el, "type") || "").trim().toLowerCase();
    text = text === undefined ? el.textContent : String(text);
    return !el.hasAttribute("src") && (/^(importmap|speculationrules|module)$/.test(type) ||
      /\bimport\b/.test(text)) ? textService(unescaped(text)) : null;
  }
  /* A script's text with its string escapes read ("https:\u002f\u002f...", JSON's "\/"), \t,
     \n and \r as nothing (the URL parser drops a tab or a newline: "https:/\t/host"), and an
     escaped space or line break (a line continuation: "h\<LF>ttps:host", at U+2028 too) */
  function unescaped(t) {
    return t.replace(/\\(?:u\{([\da-f]{1,6})\}|u([\da-f]{4})|x([\da-f]{2})|([^]))/gi, function (m, a, b, c, d) {
      return d ? /[tnr\s]/.test(d) ? "" : d : String.fromCodePoint(Math.min(parseInt(a || b || c, 16), 0x10ffff));
    });
  }
  function styled(p) { return p && p.localName === "style"; }
  /* Text v going into node (a script, or a text node of one): a script it makes load a
     blocked service is held before the text is in (a script inserted empty runs once it
     gets text). */
  function held(node, v) {
    var s = node && (node.localName === "script" ? node : node.parentNode), svc;
    if (s && s.localName === "script" && (svc = scriptService(s, v))) mark(s, svc);
  }
  /* The blocked services of the URLs in a text (the first's name, see both). */
  function textService(text, base) {
    /* (a special scheme's URL needs no "//": "https:host/x.js"; the URL parser drops tabs
       and newlines anywhere, "https:/\t/host", and reads a backslash as a slash) */
    var re = /\b(?:https?|wss?):[^\s"'`<>()]+|[\/\\]{2}[^\s"'`<>()]+/gi, m, svc, all;
    text = String(text).replace(/[\t\n\r]+/g, "");
    while ((m = re.exec(text))) if ((svc = blockedUrl(m[0], base))) all = all ? both(all, svc) : svc;
    return all;
  }
  /* Hold what a tree of markup parsed away from the page would load; the first service. */
  function sweep(root, doc, depth) {
    var first = null, els = [].slice.call(root.querySelectorAll ? root.querySelectorAll("*") : []);
    if (root.nodeType === 1) els.unshift(root);
    els.forEach(function (el) {
      var name = (el.localName || "").toLowerCase(), svc;
      (URL_ATTRS[name] || []).forEach(function (a) {
        var v = nativeGetAttribute.call(el, a);
        if (v !== null && (svc = blocked(el, a, v, depth, doc))) {
          el.removeAttribute(a);
          first = first || svc;
          hold(el, a, v, svc);
        }
      });
      var style = nativeGetAttribute.call(el, "style"), clean = css(style);
      if (clean !== style) nativeSetAttribute.call(el, "style", clean);
      var text = el.textContent, clean2 = name === "style" ? css(text) : text;
      if (clean2 !== text) el.textContent = clean2;
      if (name === "template" && el.content) first = sweep(el.content, doc, depth) || first;
      if (name === "script" && (svc = scriptService(el))) {
        first = first || svc;
        mark(el, svc);
      }
    });
    return first;
  }
  /* Whether markup may load a blocked service: any URL of one in its text, or entities,
     escapes or a base on another host that a parser may turn into one. */
  function suspect(text, doc) {
    return /[&%\\]/.test(text) || doc.baseURI.indexOf(location.origin + "/") !== 0 ||
      !!textService(text, doc.baseURI);
  }
  /* The first blocked service a document (srcdoc, data: or javascript: frame) loads. */
  function markupService(text, doc, depth) {
    if (!suspect(text, doc)) return null;
    return textService(text, doc.baseURI) ||
      (depth < 4 ? sweep(parse(text, doc).content, doc, depth + 1) : null);
  }
  var templates = {};
  function parse(html, doc) {
    var t = doc.createElement("template");
    templates.set.call(t, html);
    return t;
  }
  /* Markup (innerHTML, document.write...) with what it would load held: the same value
     when nothing is. */
  function markup(value, doc) {
    value = once(value);
    var html = String(value), t;
    if (html.indexOf("<") === -1 || !suspect(html, doc)) return value;
    t = parse(html, doc);
    return sweep(t.content, doc, 0) ? templates.get.call(t) : value;
  }

  /* ---- hooks, in this window and in each same-origin child window ---- */

  function wrap(obj, name, make) {
    var native = obj && obj[name];
    if (typeof native === "function") obj[name] = make(native);
  }
  function accessor(proto, name, make, getter) {
    var d = proto && Object.getOwnPropertyDescriptor(proto, name);
    if (!d || !(getter ? d.get : d.set)) return;
    Object.defineProperty(proto, name, {
      configurable: true, enumerable: d.enumerable,
      get: getter ? make(d.get) : d.get, set: getter ? d.set : make(d.set)
    });
  }
  /* The guard in a same-origin window (an about:blank or srcdoc frame's own window,
     a popup), once per realm. */
  function child(win) {
    try {
      if (win && !win[DONE] && win.document) install(win);
    } catch (e) { /* another origin: its own business, and CSP's */ }
    return win;
  }
  function frames(node) {
    if (!node || node.nodeType !== 1 && node.nodeType !== 11) return;
    if (/^(i?frame|object)$/.test(node.localName)) child(node.contentWindow);
    else if (node.firstElementChild) [].forEach.call(node.querySelectorAll("iframe,frame,object"), frames);
  }
  function ours(url) {
    try {
      return new URL(url, location.href).origin === location.origin;
    } catch (e) { return false; }
  }

  function learn(mark, url) {
    if (mark && /^[\w-]{8,64}$/.test(mark) && ours(url)) marks[mark] = 1;
  }

  function install(win) {
    win[DONE] = true;
    var doc = win.document, E = win.Element.prototype, N = win.Node.prototype;
    var D = win.Document.prototype, S = win.ShadowRoot && win.ShadowRoot.prototype;
    if (!templates.set) {
      var inner = Object.getOwnPropertyDescriptor(E, "innerHTML");
      templates = { set: inner.set, get: inner.get };
    }
    /* The constructor win[name] with its arguments mended, or refused, by fix(args). */
    function construct(name, fix) {
      var C = win[name];
      if (typeof C === "function") win[name] = new Proxy(C, {
        construct: function (t, a, nt) {
          a = [].slice.call(a);
          fix(a);
          return Reflect.construct(t, a, nt);
        }
      });
    }

    wrap(E, "setAttribute", function (native) {
      return function (name, value) {
        var v = attribute(this, name, value);
        if (v !== HELD) return native.call(this, name, v);
      };
    });
    wrap(E, "setAttributeNS", function (native) {
      return function (ns, name, value) {
        var v = attribute(this, String(name).split(":").pop(), value);
        if (v !== HELD) return native.call(this, ns, name, v);
      };
    });
    function node(native) {
      return function (a) {
        var el = this.ownerElement || this, v = a && attribute(el, a.localName, a.value);
        if (v === HELD) return null;
        if (a && v !== a.value) a.value = v;
        return native.apply(this, arguments);
      };
    }
    ["setAttributeNode", "setAttributeNodeNS"].forEach(function (n) { wrap(E, n, node); });
    function value(set) {
      return function (v) {
        v = once(v);
        if (this.nodeType === 2 && this.ownerElement) {
          v = attribute(this.ownerElement, this.localName, v);
          if (v === HELD) return;
        } else {
          if (styled(this) || styled(this.parentNode)) v = css(v);
          held(this, v);
        }
        set.call(this, v);
      };
    }
    accessor(win.Attr.prototype, "value", value);
    accessor(N, "nodeValue", value);
    accessor(N, "textContent", value);
    accessor(win.CharacterData.prototype, "data", value);
    /* (a script's own: Chromium's, for Trusted Types) */
    ["text", "textContent", "innerText"].forEach(function (n) {
      accessor(win.HTMLScriptElement.prototype, n, value);
    });
    ["appendData", "insertData", "replaceData"].forEach(function (n, k) {
      wrap(win.CharacterData.prototype, n, function (native) {
        return function () {
          var a = arguments, d = this.data, o = k ? a[0] : d.length;
          if (!/^(style|script)$/.test(this.parentNode && this.parentNode.localName)) {
            return native.apply(this, a);
          }
          this.data = d.slice(0, o) + a[k] + d.slice(o + (k > 1 ? a[1] : 0));
        };
      });
    });

    [[win.HTMLScriptElement, "src"], [win.HTMLIFrameElement, "src"],
     [win.HTMLIFrameElement, "srcdoc"], [win.HTMLFrameElement, "src"],
     [win.HTMLImageElement, "src"], [win.HTMLImageElement, "srcset"],
     [win.HTMLLinkElement, "href"], [win.HTMLLinkElement, "imageSrcset"],
     [win.HTMLEmbedElement, "src"], [win.HTMLObjectElement, "data"],
     [win.HTMLSourceElement, "src"], [win.HTMLSourceElement, "srcset"],
     [win.HTMLMediaElement, "src"], [win.HTMLVideoElement, "poster"],
     [win.HTMLTrackElement, "src"], [win.HTMLInputElement, "src"], [win.HTMLBaseElement, "href"],
     [win.HTMLAnchorElement, "ping"], [win.HTMLAreaElement, "ping"],
     [win.HTMLBodyElement, "background"], [win.HTMLTableElement, "background"],
     [win.HTMLTableCellElement, "background"]
    ].forEach(function (pair) {
      var attr = pair[1].toLowerCase();
      accessor(pair[0] && pair[0].prototype, pair[1], function (set) {
        return function (v) {
          var r = attribute(this, attr, v);
          if (r !== HELD) set.call(this, r);
        };
      });
    });
    /* SVG: el.href.baseVal = url. Each href's animated string is known by its element. */
    var owners = new WeakMap();
    ["SVGImageElement", "SVGScriptElement", "SVGFEImageElement"].forEach(function (n) {
      accessor(win[n] && win[n].prototype, "href", function (get) {
        return function () { var o = get.call(this); owners.set(o, this); return o; };
      }, true);
    });
    accessor(win.SVGAnimatedString && win.SVGAnimatedString.prototype, "baseVal", function (set) {
      return function (v) {
        var el = owners.get(this);
        if (!el || attribute(el, "href", v) !== HELD) set.call(this, v);
      };
    });

    /* Markup from strings. */
    [E, S].forEach(function (p) {
      accessor(p, "innerHTML", function (set) {
        return function (v) {
          v = once(v);
          held(this, v);
          set.call(this, this.localName === "style" ? css(v) : markup(v, doc));
          frames(this);
        };
      });
      /* (setHTML's sanitizer keeps an <img src> its options allow) */
      ["setHTMLUnsafe", "setHTML"].forEach(function (n) {
        wrap(p, n, function (native) {
          return function (v, o) { native.call(this, markup(v, doc), o); frames(this); };
        });
      });
    });
    accessor(E, "outerHTML", function (set) {
      return function (v) { var p = this.parentNode; set.call(this, markup(v, doc)); frames(p); };
    });
    accessor(win.HTMLElement.prototype, "innerText", function (set) {
      return function (v) {
        v = once(v);
        held(this, v);
        set.call(this, this.localName === "style" ? css(v) : v);
      };
    });
    wrap(E, "insertAdjacentText", function (native) {
      return function (where, v) {
        var p = /^(afterbegin|beforeend)$/i.test(where) ? this : this.parentNode;
        v = once(v);
        held(p, v);
        return native.call(this, where, styled(p) ? css(v) : v);
      };
    });
    wrap(E, "insertAdjacentHTML", function (native) {
      return function (where, v) { native.call(this, where, markup(v, doc)); frames(this.parentNode || this); };
    });
    wrap(win.Range && win.Range.prototype, "createContextualFragment", function (native) {
      return function (v) { return native.call(this, markup(v, doc)); };
    });
    wrap(win.DOMParser && win.DOMParser.prototype, "parseFromString", function (native) {
      return function (v, type) { return native.call(this, /html/.test(type) ? markup(v, doc) : v, type); };
    });
    wrap(win.Document, "parseHTMLUnsafe", function (native) {
      return function (v) { return native.call(this, markup(v, doc)); };
    });
    /* document.write: the markup of a call (and of the calls before it, while a tag is
       still open at their end, as when a URL is split across writes) as a whole. */
    var pending = "", write = D.write;
    ["write", "writeln"].forEach(function (n, ln) {
      wrap(D, n, function () {
        return function () {
          var text = pending + [].join.call(arguments, "") + (ln ? "\n" : "");
          pending = /<[a-z!\/][^>]*$/i.test(text) ? text : "";
          if (pending) return;
          write.call(this, markup(text, this));
          if (/<i?frame/i.test(text)) frames(this.documentElement);
        };
      });
    });
    var nodeType = Object.getOwnPropertyDescriptor(N, "nodeType").get;
    /* Nodes joining the document: from another document (a template, DOMParser), they are
       swept; scripts and styles are judged by their text; frames get the guard. */
    function arrive(parent, args) {
      var st = styled(parent);
      for (var i = 0; i < args.length; i++) {
        var n = args[i];
        try { nodeType.call(n); } catch (e) { n = args[i] = once(n); }  /* (no node: its string) */
        if (typeof n === "string") {
          held(parent, n);
          if (st) args[i] = css(n);
        } else if (!n || typeof n !== "object") continue;
        else if (n.nodeType === 3) {
          held(parent, n.data);
          if (st) n.data = css(n.data);
        } else if (n.nodeType === 1 || n.nodeType === 11) {
          if (n.nodeType === 11) {  /* a fragment's text nodes go into the parent */
            held(parent, n.textContent);
            if (st) [].forEach.call(n.childNodes, function (c) { if (c.nodeType === 3) c.data = css(c.data); });
          }
          if (n.ownerDocument !== doc) sweep(n, doc, 0);
          else if (/^(script|style)$/.test(n.localName)) sweep(n, doc, 0);
        }
      }
    }
    function inserting(proto, names) {
      names.forEach(function (name) {
        wrap(proto, name, function (native) {
          return function () {
            /* the element the nodes go into: a Range's start, a sibling's parent */
            var p = this.startContainer || this;
            arrive(p.nodeType === 3 || /^(before|after|replaceWith)$/.test(name) ? p.parentNode : p,
                   arguments);
            var r = native.apply(this, arguments);
            for (var i = 0; i < arguments.length; i++) frames(arguments[i]);
            return r;
          };
        });
      });
    }
    inserting(N, ["appendChild", "insertBefore", "replaceChild"]);
    inserting(E, ["append", "prepend", "before", "after", "replaceWith", "replaceChildren",
                  "insertAdjacentElement"]);
    inserting(win.DocumentFragment.prototype, ["append", "prepend", "replaceChildren"]);
    inserting(D, ["append", "prepend", "replaceChildren", "importNode", "adoptNode"]);
    inserting(win.CharacterData.prototype, ["before", "after", "replaceWith"]);
    inserting(win.Range.prototype, ["insertNode", "surroundContents"]);

    /* CSS: inline styles (through a proxy: their properties are no accessors), rules. */
    /* every property: a URL loads in more than the image ones (clip-path, fill, marker-*,
       -webkit-box-reflect...), and css() lets a value without "//" or ":" pass at once */
    var styles = new WeakMap();
    var SD = win.CSSStyleDeclaration.prototype;
    accessor(SD, "cssText", function (set) { return function (v) { set.call(this, css(v)); }; });
    wrap(SD, "setProperty", function (native) {
      return function (p, v, prio) { return native.call(this, p, css(v), prio); };
    });
    function proxied(get) {
      return function () {
        var t = get.call(this), p = styles.get(t);
        if (!p) {
          p = new Proxy(t, {
            get: function (t, k) { var v = t[k]; return typeof v === "function" ? v.bind(t) : v; },
            set: function (t, k, v) { t[k] = typeof k === "string" ? css(v) : v; return true; }
          });
          styles.set(t, p);
        }
        return p;
      };
    }
    /* (a rule's style: a style or keyframe rule's, the declarations nested after a rule, a
       font's source) */
    [win.HTMLElement, win.SVGElement, win.MathMLElement, win.CSSStyleRule, win.CSSKeyframeRule,
     win.CSSNestedDeclarations, win.CSSFontFaceRule].forEach(function (c) {
      var p = c && c.prototype;
      accessor(p, "style", proxied, true);
      accessor(p, "style", function (set) { return function (v) { set.call(this, css(v)); }; });
    });
    /* (every argument read as CSS: addRule's style, the Typed OM's values set, a
       CSSStyleValue as its text) */
    [win.CSSStyleSheet, win.CSSGroupingRule, win.CSSKeyframesRule, win.StylePropertyMap].forEach(function (c) {
      ["insertRule", "replace", "replaceSync", "addRule", "appendRule", "set", "append"].forEach(function (n) {
        wrap(c && c.prototype, n, function (native) {
          return function (rule) { /* (rule read: its length stays the native's, 1) */
            return native.apply(this, [].map.call(arguments, function (v, i) {
              return i || n !== "addRule" ? css(v) : rule;  /* (a selector is no style) */
            }));
          };
        });
      });
    });
    /* Web Animations: keyframes (objects, arrays, iterables) with their CSS values inert. */
    function keyframes(k) {
      if (!k || typeof k !== "object") return typeof k === "string" ? css(k) : k;
      var c = Array.isArray(k) || typeof k[Symbol.iterator] !== "function" ? k : Array.from(k);
      var out = Array.isArray(c) ? [] : {};
      Object.keys(c).forEach(function (p) { out[p] = keyframes(c[p]); });
      return out;
    }
    wrap(E, "animate", function (native) {
      return function (k) {
        var a = [].slice.call(arguments);
        a[0] = keyframes(k);
        return native.apply(this, a);
      };
    });
    wrap(win.KeyframeEffect && win.KeyframeEffect.prototype, "setKeyframes", function (native) {
      return function (k) { return native.call(this, keyframes(k)); };
    });
    construct("KeyframeEffect", function (a) { if (a.length > 1) a[1] = keyframes(a[1]); });
    /* a FontFace's source is CSS: url(...), unless it is the font's bytes */
    construct("FontFace", function (a) {
      if (a.length > 1 && !isView(a[1])) try { sliceBytes.call(a[1], 0, 0); } catch (e) { a[1] = css(a[1]); }
    });
    wrap(win.CSS, "registerProperty", function (native) {
      return function (d) {
        return native.call(this, d && d.initialValue ? Object.assign({}, d, { initialValue: css(d.initialValue) }) : d);
      };
    });

    /* Requests. */
    /* A loader's input as it reads it, in place: a Request's URL, anything else read once
       as its string (an object's own url is no Request's, and its toString what loads). */
    var requestUrl = Object.getOwnPropertyDescriptor(win.Request.prototype, "url").get;
    function address(args, k) {
      try { return requestUrl.call(args[k]); } catch (e) { return (args[k] = once(args[k])); }
    }
    /* A URL of a service not consented to throws a SecurityError, as a CSP refusal did. */
    function refuse(url) {
      if (blockedUrl(url, doc.baseURI)) {
        throw new win.DOMException("consentproxy: no consent for " + url, "SecurityError");
      }
    }
    wrap(win, "fetch", function (native) {
      return function () {
        var url = address(arguments, 0);
        if (blockedUrl(url, doc.baseURI)) {
          return win.Promise.reject(new win.TypeError("consentproxy: no consent for " + url));
        }
        return native.apply(this, arguments).then(function (r) {
          learn(r.headers.get(HEADER), r.url);
          return r;
        });
      };
    });
    var X = win.XMLHttpRequest.prototype;
    /* A request to a service not consented to is sent to "data:", a URL no fetch can make:
       it fails as a CSP refusal did (an error event, a NetworkError when synchronous). */
    wrap(X, "open", function (native) {
      return function () {
        var a = [].slice.call(arguments);
        if (blockedUrl(address(a, 1), doc.baseURI)) a[1] = "data:";
        return native.apply(this, a);
      };
    });
    wrap(X, "send", function (native) {
      return function () {
        this.addEventListener("readystatechange", function () {
          // (only a response of the page's own origin has it: asking another's is a console
          // error, 'Refused to get unsafe header', that the site never had)
          if (this.readyState === 2 && ours(this.responseURL)) {
            learn(this.getResponseHeader(HEADER), this.responseURL);
          }
        });
        return native.apply(this, arguments);
      };
    });
    wrap(win.Navigator.prototype, "sendBeacon", function (native) {
      return function () {
        return blockedUrl(address(arguments, 0), doc.baseURI) ? false : native.apply(this, arguments);
      };
    });
    /* Navigations made by script: a form submitted (submit, requestSubmit), a link or a
       form's submit button clicked (click(), a click event dispatched, its label's). One
       to a service not consented to is not made, as CSP's form-action refuses a form's,
       silently. The visitor's own go on: the browser's (trusted) clicks reach no hook, and
       a script submitting a form or clicking a link while the visitor's click, key or
       submission inside it is dispatched (a form checked before it is sent) does it for
       them. */
    function gesture() {  /* the target of the visitor's click, key or submission dispatched */
      var e = win.event || window.event;
      return e && e.isTrusted && /^(click|submit|key)/.test(e.type) && e.target;
    }
    function stops(el, url) {
      var t = gesture();
      return !!blockedUrl(url, el.ownerDocument.baseURI) && !(t && t.nodeType && el.contains(t));
    }
    function sent(form, s) {  /* s: the submitter, whose formaction wins over the action */
      var u = s ? nativeGetAttribute.call(s, "formaction") : null;
      return stops(form, u === null ? nativeGetAttribute.call(form, "action") : u);
    }
    /* (the element the click activates: the nearest link or control around its target, a
       label's control; one around it only for a click that bubbles) */
    function clicked(el, bubbles) {
      var a = el.closest && el.closest("a,area,button,input,label"),
        t = a && a.localName === "label" ? a.control : a, h = t && t.href;
      return !!t && (a === el || bubbles) && (/^(a|area)$/.test(t.localName)
        ? stops(t, h && h.baseVal !== undefined ? h.baseVal : h)  /* (an SVG <a>'s) */
        : !!t.form && /^(submit|image)$/.test(t.type) && sent(t.form, t));
    }
    var F = win.HTMLFormElement.prototype;
    wrap(F, "submit", function (native) {
      return function () { if (!sent(this)) return native.apply(this, arguments); };
    });
    wrap(F, "requestSubmit", function (native) {
      return function (s) { if (!sent(this, s)) return native.apply(this, arguments); };
    });
    wrap(win.HTMLElement.prototype, "click", function (native) {
      return function () { if (!clicked(this, true)) return native.apply(this, arguments); };
    });
    wrap(win.EventTarget.prototype, "dispatchEvent", function (native) {
      return function (e) {
        return e && e.type === "click" && clicked(this, e.bubbles) ? false : native.apply(this, arguments);
      };
    });
    /* A window a script opens on a service not consented to is not opened (null), unless
       the visitor's click or key opens it in a window of its own (a "Share" popup), not in
       one of the page's frames (document.open(url, name, features) is window.open). */
    function opens(url, name) {
      var n = name == null ? "" : String(name);
      return !blockedUrl(url, doc.baseURI) || !!gesture() && (/^(_blank|_top|)$/i.test(n)
        || (/^_(self|parent)$/i.test(n) ? win === win.top : !framed(win.top, n)));
    }
    function framed(w, n) {  /* a frame of the page's (w's, from the top down) is named n */
      var f;
      try { f = w[n]; } catch (e) { /* another origin's window, with no frame so named */ }
      if (f && f !== w && f.window === f && f.top === win.top) return true;
      for (var i = 0; i < w.length; i++) if (framed(w[i], n)) return true;
      return false;
    }
    wrap(win, "open", function (native) {
      return function (url, name) {
        return opens(address(arguments, 0), name) ? child(native.apply(this, arguments)) : null;
      };
    });
    wrap(D, "open", function (native) {
      return function (url, name) {
        return arguments.length > 2 && !opens(address(arguments, 0), name) ? null : native.apply(this, arguments);
      };
    });
    /* Markup made by XSLT in this document, and HTML in a Blob (a blob: frame's) */
    wrap(win.XSLTProcessor && win.XSLTProcessor.prototype, "transformToFragment", function (native) {
      return function () { var f = native.apply(this, arguments); if (f) sweep(f, doc, 0); return f; };
    });
    ["Blob", "File"].forEach(function (name) {
      construct(name, function (a) {
        if (a[0] && /html|xml/i.test(a[a.length - 1] && a[a.length - 1].type)) {
          a[0] = Array.from(a[0]).map(function (p) { return typeof p === "string" ? markup(p, doc) : p; });
        }
      });
    });
    ["Worker", "SharedWorker", "EventSource", "WebSocket", "WebSocketStream", "WebTransport",
     "Audio"].forEach(function (name) {
      construct(name, function (a) { refuse(address(a, 0)); });
    });
    wrap(win, "fetchLater", function (native) {
      return function () { refuse(address(arguments, 0)); return native.apply(this, arguments); };
    });
    /* Loaders answering with a promise (a worklet's module: CSS paint, audio; the Cache
       API's fetches) reject it. */
    [[win.Worklet, "addModule"], [win.Cache, "add"], [win.Cache, "addAll"]].forEach(function (p) {
      wrap(p[0] && p[0].prototype, p[1], function (native) {
        return function (r) {
          var a = [].slice.call(arguments), list = a, k;
          try {
            if (p[1] === "addAll") list = a[0] = Array.from(r);  /* (an iterator is read once) */
            for (k = 0; k < (list === a ? 1 : list.length); k++) refuse(address(list, k));
          } catch (e) { return win.Promise.reject(e); }
          return native.apply(this, a);
        };
      });
    });

    /* Cookies: document.cookie and the Cookie Store API; one let through lives no longer
       than an origin's may (cap_cookie_lifetime_days). */
    accessor(D, "cookie", function (set) {
      return function (v) { v = String(v); if (cookieWritable(v)) set.call(this, capped(v)); };
    });
    wrap(win.CookieStore && win.CookieStore.prototype, "set", function (native) {
      /* What it is given read once (its own fields, as set(name, value) or set(options)
         the browser tells apart), into one plain object the browser then reads: a getter or
         a toString answering otherwise the second time named a cookie never checked here. */
      return function (a) {
        var o = arguments.length > 1 ? { name: String(a), value: String(arguments[1]) } : Object.assign({}, a);
        if (o.name !== undefined) o.name = String(o.name);
        if (o.expires != null) o.expires = Math.min(+o.expires, Date.now() + CONFIG.cap * 1e3);
        if (o.maxAge != null) o.maxAge = Math.min(+o.maxAge, CONFIG.cap);  /* (seconds) */
        return nameAllowed(o.name) ? native.call(this, o) : win.Promise.resolve();
      };
    });

    /* Same-origin frames: their own windows get the guard when reached or loaded. */
    [win.HTMLIFrameElement, win.HTMLFrameElement, win.HTMLObjectElement].forEach(function (c) {
      var p = c && c.prototype;
      accessor(p, "contentWindow", function (get) {
        return function () { return child(get.call(this)); };
      }, true);
      accessor(p, "contentDocument", function (get) {
        return function () { var d = get.call(this); if (d) child(d.defaultView); return d; };
      }, true);
    });
    doc.addEventListener("load", function (e) { frames(e.target); }, true);
    new win.MutationObserver(function (records) {
      records.forEach(function (r) { [].forEach.call(r.addedNodes, frames); });
      /* and the child windows no node above leads to (an <object>'s, a shadow root's) */
      for (var i = 0; i < win.length; i++) child(win[i]);
    }).observe(doc, { childList: true, subtree: true });
  }

  function cookieCategory(name) {
    if (own(CONFIG.cookies, name)) return CONFIG.cookies[name];
    for (var i = 0; i < CONFIG.patterns.length; i++) {
      if (new RegExp("^(?:" + CONFIG.patterns[i][0] + ")$").test(name)) {
        return CONFIG.patterns[i][1];
      }
    }
    return null;
  }
  /* The seconds a browser keeps a cookie string's cookie (null: the session), as Chromium
     reads its attributes (cookies.lifetime, the proxy's): the last Max-Age if it is an
     integer, else the last Expires if it is a date (RFC 6265bis 5.1.1, cookieDate: V8's
     Date.parse read "01 Jan 69" as 1969, the jar as 2069). */
  var MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
  function cookieDate(value) {
    var hms = null, day = null, month = null, year = null, m;
    (value.match(/[^\x09\x20-\x2f\x3b-\x40\x5b-\x60\x7b-\x7e]+/g) || []).forEach(function (t) {
      if (hms === null && (m = /^(\d{1,2}):(\d{1,2}):(\d{1,2})/.exec(t))) hms = [+m[1], +m[2], +m[3]];
      else if (day === null && (m = /^(\d{1,2})(?:\D|$)/.exec(t))) day = +m[1];
      else if (month === null && (m = MONTHS.indexOf(t.slice(0, 3).toLowerCase())) !== -1) month = m;
      else if (year === null && (m = /^(\d{2,5})(?:\D|$)/.exec(t))) year = +m[1];
    });
    if (hms === null || day === null || month === null || year === null) return null;
    year += year >= 70 && year <= 99 ? 1900 : year <= 69 ? 2000 : 0;
    if (day < 1 || day > 31 || year < 1601 || hms[0] > 23 || hms[1] > 59 || hms[2] > 59) return null;
    var when = new Date(Date.UTC(Math.min(year, 9999), month, day, hms[0], hms[1], hms[2]));
    return when.getUTCDate() === day ? when.getTime() / 1e3 : null;  /* (no 30 February) */
  }
  function reading(text) {
    var ages = [], dates = [];
    text.split(";").slice(1).forEach(function (av) {
      var at = av.indexOf("="), key = (at < 0 ? av : av.slice(0, at)).trim().toLowerCase();
      var value = at < 0 ? "" : av.slice(at + 1).trim();
      if (key === "max-age") ages.push(value); else if (key === "expires") dates.push(value);
    });
    var age = ages.length && /^[+-]?\d+$/.test(ages[ages.length - 1]) ? +ages[ages.length - 1] : null;
    var when = age === null && dates.length ? cookieDate(dates[dates.length - 1]) : null;
    return age !== null ? age : when !== null ? when - Date.now() / 1e3 : null;
  }
  function nameAllowed(name) {
    var cat = cookieCategory(name);
    if (cat === null) {
      if (CONFIG.unknown === "allow") return true;
      if (CONFIG.unknown === "block") return false;
      cat = CONFIG.unknown;
    }
    return allowsCategory(cat);
  }
  /* A refused cookie may only be emptied: what reads as a deletion here may be kept for
     400 days by the jar ("_gid=1; expires=Thu, 01 Jan 1970 00:00:00 GMT; max-age=+50000000"
     where Max-Age was read as an integer only without a sign), and an empty value carries
     no identifier. (Empty as Chromium reads it: spaces and tabs around a value are trimmed,
     no other white space, "\u2003" is a value.) */
  function cookieWritable(text) {
    var pair = text.split(";")[0], at = pair.indexOf("=");
    if (at !== -1 && /^[ \t]*$/.test(pair.slice(at + 1))) return true;
    return nameAllowed((at < 0 ? "" : pair.slice(0, at)).trim());
  }
  /* The cookie string with one max-age, read here and capped, for all its lifetime
     attributes (cookies.capped, the proxy's): where Chromium would read them otherwise
     ("Expires=2026:1 Jan 01 2100", a Max-Age of 1,100 digits), the cookie lives shorter,
     never past the cap. */
  function capped(text) {
    var life = reading(text), out = text.replace(/;\s*(max-age|expires)\s*(=[^;]*)?(?=;|$)/gi, "");
    return out === text || life === null ? out : out + "; max-age=" + Math.floor(Math.max(0, Math.min(life, CONFIG.cap)));
  }
  var cookie = Object.getOwnPropertyDescriptor(Document.prototype, "cookie");
  install(window);

  /* On withdrawal: expire every cookie the page can reach that the new state does not
     allow, under every path and domain a tracker may have set it with (the proxy
     deletes the rest, HttpOnly ones included, on the next response). */
  function deleteCookies() {
    var host = location.hostname, paths = ["/"], domains = [""], parts = host.split(".");
    /* (a Secure one, a __Host- one, and a Partitioned one, filed apart, each need theirs) */
    var flags = window.isSecureContext ? ["", "; secure", "; secure; partitioned"] : [""];
    location.pathname.split("/").reduce(function (acc, seg) {
      if (!seg) return acc;
      acc += "/" + seg;
      paths.push(acc, acc + "/");
      return acc;
    }, "");
    for (var i = 0; i < parts.length - 1; i++) domains.push("; domain=" + parts.slice(i).join("."));
    String(cookie.get.call(document)).split(";").forEach(function (pair) {
      var name = pair.split("=")[0].trim();
      if (!name || nameAllowed(name)) return;
      paths.forEach(function (path) {
        domains.forEach(function (domain) {
          flags.forEach(function (more) {
            cookie.set.call(document, name + "=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=" +
              path + domain + more);
          });
        });
      });
    });
    /* ...and the entries of the page's storage named as such a cookie is (Hotjar's _hj*,
       Segment's ajs_*, a tag's _ga...: storing on the visitor's device needs consent as a
       cookie does); an entry nothing names stays (the site's own state, the banner's). */
    ["localStorage", "sessionStorage"].forEach(function (kind) {
      var store, keys = [];
      try { store = window[kind]; } catch (e) { return; } /* (storage off: SecurityError) */
      if (!store) return;
      for (var i = 0; i < store.length; i++) keys.push(store.key(i));
      keys.forEach(function (key) {
        var cat = cookieCategory(key);
        if (cat !== null && !allowsCategory(cat)) store.removeItem(key);
      });
    });
  }

  /* Google Consent Mode v2: the default (denied but for the required categories' signals)
     goes into the dataLayer before any Google tag can read it, then an update from the
     visitor's choice, now and on every change. */
  function granted(signal) { return CONFIG.consentMode[signal].some(allowsCategory); }
  /* The data layers Google's tags read, by name: window.dataLayer, and one a Google tag's
     URL names (`l=`: a GTM or gtag.js snippet may rename it; neither the default nor the
     clamp reached one so named). */
  var layers = {};
  function command(kind) {
    var signals = {};
    Object.keys(CONFIG.consentMode).forEach(function (signal) {
      signals[signal] = granted(signal) ? "granted" : "denied"; /* required: always */
    });
    if (kind === "default") signals.wait_for_update = 500;
    return (function () { return arguments; })("consent", kind, signals);
  }
  function consentMode(kind) {
    Object.keys(layers).forEach(function (name) { window[name].push(command(kind)); });
  }
  /* The page's own Consent Mode commands (its snippet's gtag('consent', 'default', {...:
     'granted'}), an update, a former tool's) only narrow the visitor's choice: a signal it
     grants that the choice does not is pushed as denied. (They went on untouched: all four
     granted before any choice.) The guard's push is the dataLayer's first whoever replaces
     it (gtag.js, GTM: each one set is called in turn, as their own chain would), and a
     dataLayer the page assigns anew gets it, and the visitor's consent, too. */
  function clamp(item) {
    var signals = item && item[0] === "consent" && (item[1] === "default" || item[1] === "update")
      && item[2];
    if (!signals || typeof signals !== "object") return;
    Object.keys(CONFIG.consentMode).forEach(function (signal) {
      if (own(signals, signal) && signals[signal] !== "denied" && !granted(signal)) {
        signals[signal] = "denied";
      }
    });
  }
  function guardLayer(layer) {
    /* set: the pushes assigned, last first; a wrapper calls the push it read (this one)
       from inside, or later with the same item: each call goes one further down */
    var set = [], depth = 0, levels = new WeakMap(), arrayPush = Array.prototype.push;
    for (var i = 0; i < layer.length; i++) clamp(layer[i]);
    function push() {
      for (var i = 0; i < arguments.length; i++) clamp(arguments[i]);
      var item = arguments[0], keyed = item !== null && typeof item === "object";
      var from = !depth && keyed && levels.has(item) ? levels.get(item) + 1 : depth;
      var next = set[set.length - 1 - from];
      if (!next) return arrayPush.apply(layer, arguments);
      if (keyed) levels.set(item, from);
      var was = depth;
      depth = from + 1;
      try { return next.apply(layer, arguments); } finally { depth = was; }
    }
    Object.defineProperty(layer, "push", { configurable: true, enumerable: false,
      get: function () { return push; }, set: function (f) { set.push(f); } });
    return layer;
  }
  /* A layer guarded, given the default (and the visitor's update) first of all: a renamed
     one is met once the page's snippet has queued its own commands and GTM's start event,
     which Google's tag must not read before them. */
  function watchLayer(name) {
    if (own(layers, name)) return;
    layers[name] = 1;
    var layer = window[name];
    layer = guardLayer(Array.isArray(layer) ? layer : []);
    function tell(list) {
      Array.prototype.unshift.apply(list, [command("default")].concat(
        state.decided ? [command("update")] : []));
    }
    /* (a page's `var dl` cannot be redefined: that one is guarded as it is, not anew) */
    var found = Object.getOwnPropertyDescriptor(window, name);
    if (!found || found.configurable) {
      Object.defineProperty(window, name, { configurable: true, enumerable: true,
        get: function () { return layer; },
        set: function (next) {
          if (next === layer) return;
          layer = next;
          if (!Array.isArray(next)) return;  /* (not a dataLayer Google reads) */
          guardLayer(next);
          tell(next);
        } });
    } else if (found.value == null && found.writable) {  /* (`var dl;` not set yet) */
      window[name] = layer;
    }
    tell(layer);
  }
  var LAYER_URL = /^https:\/\/www\.googletagmanager\.com\/(gtm\.js|gtag\/js)\?/;
  function layerOf(url) {
    if (!CONFIG.consentMode || !LAYER_URL.test(url)) return;
    var name = new URL(url).searchParams.get("l");
    if (name && /^[A-Za-z_$][\w$]*$/.test(name)) watchLayer(name);
  }
  if (CONFIG.consentMode) watchLayer("dataLayer");

  /* Stand-ins: the globals a held service's snippet defines that the site's own code calls
     (an onclick's ga('send', ...), _gaq.push, googletag.cmd.push): with the snippet held they
     threw a ReferenceError, and the rest of that code never ran. A stand-in keeps what it is
     given and does nothing else (no element, no request). Once the state allows one of its
     services it is taken away before the held scripts run again (a snippet keeps a global it
     finds: `if (f.fbq) return;`), and once the banner has brought them back (replay) what it
     kept is made on what is there then, in order. A name the page has at this point (the
     Consent Mode dataLayer above), or that a service allowed now (or loading before consent)
     defines, gets none; one the page's own code sets later is the page's. */
  var standIns = [], kept = [];
  /* A call's callback the site waits on (Google's outbound link: ga('send', 'event', ...,
     {hitCallback: go}) then `return false`; gtag's event_callback, a dataLayer item's
     eventCallback): called at once, and that call not kept (a link followed minutes later,
     on consent, would take the visitor away). */
  function answered(args) {
    var done = false;
    [].forEach.call(args, function (a) {
      ["hitCallback", "event_callback", "eventCallback"].forEach(function (k) {
        if (a != null && typeof a[k] === "function") {
          done = true;
          setTimeout(a[k]);
        }
      });
    });
    return done;
  }
  function queue() {
    var q = [];
    q.push = function () {
      [].forEach.call(arguments, function (a) { if (!answered([a])) [].push.call(q, a); });
      return q.length;
    };
    return q;
  }
  /* (the state's own word, never `asking`'s: the banner brings scripts back by it) */
  function allowedNow(svc) {
    return !!svc[2] || has(CONFIG.required, svc[1]) || state.decided &&
      (has(state.categories, svc[1]) || has(state.services, svc[0]));
  }
  /* [form's parts, its services, the stand-in, the calls it kept] */
  Object.keys(CONFIG.globals).forEach(function (form) {
    var m = /^([\w$]+)(?:\.([\w$]+))?(\(\))?/.exec(form), calls = [], value;
    var svcs = CONFIG.globals[form].map(function (i) { return CONFIG.services[i]; });
    if (svcs.some(allowedNow) || m[1] in window) return;
    value = m[3] ? function () { if (!answered(arguments) && calls.length < 200) calls.push(arguments); }
      : m[2] ? {} : queue();
    if (m[2]) value[m[2]] = queue();
    window[m[1]] = value;  /* (plain: configurable, and the page's own declaration wins) */
    standIns.push([m, svcs, value, calls]);
  });
  /* setState: the stand-ins of a service now allowed go, what they kept left to replay
     (one the page's own code replaced is the page's, and so is an object it gave more:
     its `googletag = googletag || {}` keeping its slots there, which the library adopts
     with its queue as it would the page's own). */
  function release() {
    standIns = standIns.filter(function (s) {
      if (!s[1].some(allowedNow)) return true;
      var v = window[s[0][1]];
      try { if (v === s[2] && !(s[0][2] && Object.keys(v).length > 1) && delete window[s[0][1]]) kept.push(s); } catch (e) { /* the page's */ }
    });
  }
  /* The calls the stand-ins taken away kept, made on what is there now: a function's on
     the function the snippet defined, or, with none there yet, on the one its library
     defines once loaded (a snippet that ran before consent, inside a long script of the
     site's, had made its queue of the stand-in: Yandex's ym(id, "init")); an array's items
     pushed onto its queue, or, with none there yet (its library loads later, from a queue
     the site's own `x = x || []` made of the stand-in), the stand-in put back as that
     queue. */
  function replay() {
    kept.splice(0).forEach(function (s) {
      var m = s[0], name = m[1];
      if (m[3] ? typeof window[name] === "function" : window[name] != null) return made(s);
      if (!m[3]) window[name] = s[2];
      else if (!(name in window)) {
        Object.defineProperty(window, name, { configurable: true, get: function () {},
          set: function (v) {
            delete window[name];
            window[name] = v;
            if (typeof v === "function") setTimeout(made, 0, s);
          } });
      }
    });
  }
  function made(s) {
    var m = s[0], name = m[1], prop = m[2];
    (m[3] ? s[3] : [].slice.call(prop ? s[2][prop] : s[2])).forEach(function (item) {
      try {
        var now = window[name];
        if (m[3]) now.apply(window, item); else (prop ? now[prop] : now).push(item);
      } catch (e) { setTimeout(function () { throw e; }); }
    });
  }

  var listeners = [];
  function copy(s) {
    return { decided: !!s.decided, categories: (s.categories || []).slice(),
             services: (s.services || []).slice() };
  }

  /* The page's API (documented in the README): get(), open(), onChange(cb), and a
     consent:change event on document; nothing more (the page's scripts, trackers too, see
     it). */
  Object.defineProperty(window, "consentproxy", { enumerable: true, value: {
    get: function () { return copy(state); },
    onChange: function (cb) {
      listeners.push(cb);
      return function () { listeners = listeners.filter(function (l) { return l !== cb; }); };
    },
    open: function () { window.consentproxy.pendingOpen = true; } /* until the banner is up */
  } });
  /* banner.js's tools, never on window: a page script with setState would grant itself
     consent, with fetch or setAttribute load past the guard. In this order (banner.js takes
     them by their place: no property names to ship). */
  return [
    function (next) {  /* the new state */
      state = next;
      consentMode("update");
      var detail = copy(next);
      listeners.forEach(function (cb) {
        try { cb(detail); } catch (e) { setTimeout(function () { throw e; }); }
      });
      document.dispatchEvent(new CustomEvent("consent:change", { detail: detail }));
      release();  /* (after the page's listeners: a ga() one makes is kept, then replayed) */
    },
    function (on) { asking = !!on; },
    /* ours(el): el was neutralised by the proxy in this response (or a fragment it fetched)
       or held by this guard */
    function (el) { return own(marks, nativeGetAttribute.call(el, PRE + "mark")); },
    serviceOf,
    allowsService,
    deleteCookies,
    nativeSetAttribute.call.bind(nativeSetAttribute),  /* (el, name, value) */
    nativeFetch.bind(window),
    /* The page's inline scripts that threw as it loaded, and one the banner ran again (a
       retry failing too is told of as a new one). */
    function () { return failed.slice(); },
    function (s) { failed = failed.filter(function (x) { return x !== s; }); },
    /* The calls the stand-ins of services now allowed kept: the banner has them made once
       it has brought the held scripts back. */
    replay
  ];
})();
