/* consentproxy banner: progressive enhancement of the server-rendered consent form.
 * Without JS the form posts natively; with JS choices are posted as JSON and the
 * neutralised elements the new state allows are restored in place, without a reload. */
(function () {
  'use strict';
  var TEXTS = {
    en: {
      blocked: 'This content from {s} is blocked until you accept {c}.',
      allow: 'Allow {c}',
      error: 'Your choice could not be saved. Please try again.'
    },
    fr: {
      blocked: 'Ce contenu de {s} est bloqué tant que vous n\u2019acceptez pas\u00a0: {c}.',
      allow: 'Autoriser\u00a0: {c}',
      error: 'Votre choix n\u2019a pas pu être enregistré. Veuillez réessayer.'
    }
  };
  var BLOCKED = '[data-consent-blocked]';
  var MARK = 'data-consent-blocked';
  var MARK_CAT = 'data-consent-blocked-category';
  // Only what the proxy renames is ever restored, and only on the tags it neutralises:
  // markup injected by a third party (e.g. sanitized user content keeping data-*)
  // must not be able to turn data-consent-onerror into onerror.
  var TAGS = /^(script|iframe|frame|img|image|link|object|embed|source|video|audio|track|input|applet)$/;
  var ATTRS = /^(src|srcset|href|xlink:href|data|srcdoc|poster|lowsrc|dynsrc|codebase|archive|code|imagesrcset)$/;
  var FRAMES = /^(iframe|object|embed)$/;

  function parse(v, d) { try { return JSON.parse(v) || d; } catch (e) { return d; } }
  function has(list, x) { return (list || []).indexOf(x) >= 0; }
  function fmt(s, o) { return s.replace(/\{(\w)\}/g, function (m, k) { return o[k]; }); }
  function tag(el) { return (el.localName || '').toLowerCase(); }

  function init() {
    var root = document.getElementById('consentproxy');
    if (!root || root.__cp) return;
    root.__cp = 1;
    var prefix = root.getAttribute('data-consentproxy-prefix') || '/.consent/';
    var state = parse(root.getAttribute('data-consentproxy-state'), {});
    var catalog = parse(root.getAttribute('data-consentproxy-catalog'), {});
    var lang = (root.getAttribute('lang') || document.documentElement.lang || 'en').slice(0, 2).toLowerCase();
    var T = TEXTS[lang] || TEXTS.en;
    var form = root.querySelector('form.cp-banner') || root.querySelector('form');
    var details = root.querySelector('details');
    var heading = root.querySelector('#cp-title');
    var placeholders = new WeakMap();
    var scripts = Promise.resolve();
    var opener = null;
    var busy = false;
    if (!form) return;

    function title(kind, name) {
      var found = (catalog[kind] || []).filter(function (x) { return x.name === name; })[0];
      return (found && found.title) || name;
    }
    function allowed(el) {
      return has(state.categories, el.getAttribute(MARK_CAT)) || has(state.services, el.getAttribute(MARK));
    }
    function checkboxes() {
      return Array.prototype.slice.call(form.querySelectorAll('input[type=checkbox][data-consent-category]'));
    }

    // --- activation -------------------------------------------------------
    function restore(from, to) {
      Array.prototype.slice.call(from.attributes).forEach(function (a) {
        var n = a.name;
        if (n.indexOf('data-consent-') !== 0 || n === MARK || n === MARK_CAT) return;
        var x = n.slice(13);
        if (to === from) from.removeAttribute(n);
        if (!ATTRS.test(x) && !(x === 'type' && tag(to) === 'script')) return;
        if (x.indexOf('xlink:') === 0) to.setAttributeNS('http://www.w3.org/1999/xlink', x, a.value);
        else to.setAttribute(x, a.value);
      });
    }

    function activateScript(old) {
      var s = document.createElement('script');
      Array.prototype.slice.call(old.attributes).forEach(function (a) {
        if (a.name !== 'type' && a.name.indexOf('data-consent-') !== 0) s.setAttribute(a.name, a.value);
      });
      restore(old, s);
      if (old.nonce) s.nonce = old.nonce;
      var external = s.hasAttribute('src');
      if (!external) s.text = old.text;
      // Keep document order: a classic external script without async holds back the
      // scripts after it until it has run (as the parser would have).
      var ordered = external && !old.hasAttribute('async');
      var wait = ordered ? new Promise(function (done) {
        s.onload = s.onerror = done;
        setTimeout(done, 10000);
      }) : null;
      if (ordered) s.async = false;
      if (old.parentNode) old.parentNode.replaceChild(s, old);
      return wait;
    }

    function activate(el) {
      if (!el.hasAttribute(MARK)) return;
      var name = tag(el);
      var ph = placeholders.get(el);
      if (ph) { ph.remove(); placeholders.delete(el); }
      if (!TAGS.test(name)) return;
      if (name === 'script') {
        el.removeAttribute(MARK); // claimed: never queued twice
        scripts = scripts.then(function () { return activateScript(el); });
        return;
      }
      restore(el, el);
      el.removeAttribute(MARK);
      el.removeAttribute(MARK_CAT);
      var p = el.parentNode;
      if ((name === 'source' || name === 'track') && p && /^(video|audio)$/.test(tag(p))) p.load();
    }

    function placeholder(el) {
      if (placeholders.has(el) || !FRAMES.test(tag(el)) || !el.parentNode || el.hidden) return;
      var w = el.getAttribute('width'), h = el.getAttribute('height');
      if ((w && parseFloat(w) < 10) || (h && parseFloat(h) < 10)) return; // pixels/beacons
      var cat = el.getAttribute(MARK_CAT);
      var ph = document.createElement('div');
      ph.className = 'cp-placeholder';
      ph.setAttribute('lang', lang);
      if (w) ph.style.width = /^\d+$/.test(w) ? w + 'px' : w;
      if (h) ph.style.height = /^\d+$/.test(h) ? h + 'px' : h;
      var p = document.createElement('p');
      p.textContent = fmt(T.blocked, { s: title('services', el.getAttribute(MARK)), c: title('categories', cat) });
      var b = document.createElement('button');
      b.type = 'button';
      b.setAttribute('data-consent-action', 'allow-category');
      b.setAttribute('data-consent-allow', cat);
      b.textContent = fmt(T.allow, { c: title('categories', cat) });
      ph.appendChild(p);
      ph.appendChild(b);
      el.parentNode.insertBefore(ph, el);
      placeholders.set(el, ph);
    }

    function scan(node) {
      var list = node.matches && node.matches(BLOCKED) ? [node] : [];
      if (node.querySelectorAll) list = list.concat(Array.prototype.slice.call(node.querySelectorAll(BLOCKED)));
      list.forEach(function (el) { if (allowed(el)) activate(el); else placeholder(el); });
    }

    // --- banner -----------------------------------------------------------
    function message(text) {
      var m = form.querySelector('.cp-error');
      if (!m) {
        m = document.createElement('p');
        m.className = 'cp-error';
        m.setAttribute('role', 'alert');
        form.appendChild(m);
      }
      m.textContent = text;
      m.hidden = !text;
    }

    function show() {
      if (!form.contains(document.activeElement)) opener = document.activeElement;
      form.hidden = false;
      if (details) details.open = true;
      var first = checkboxes().filter(function (c) { return !c.disabled; })[0];
      if (!first && heading) heading.setAttribute('tabindex', '-1');
      (first || heading || form).focus();
    }

    function hide() {
      var inside = form.contains(document.activeElement);
      form.hidden = true;
      message('');
      if (inside) {
        var back = opener && document.contains(opener) && opener !== document.body ? opener : root.querySelector('.cp-manage');
        if (back) back.focus();
      }
      opener = null;
    }

    function apply(next) {
      var withdrawn = (state.categories || []).some(function (c) { return !has(next.categories, c); }) ||
        (state.services || []).some(function (s) { return !has(next.services, s); });
      state = next;
      root.setAttribute('data-consentproxy-state', JSON.stringify(next));
      if (withdrawn) { location.reload(); return; }
      hide();
      checkboxes().forEach(function (c) { c.checked = c.disabled || has(next.categories, c.value); });
      scan(document);
    }

    function choose(action, categories) {
      if (busy) return;
      busy = true;
      form.setAttribute('aria-busy', 'true');
      message('');
      fetch(prefix + 'choice', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        credentials: 'same-origin',
        body: JSON.stringify({ action: action, categories: categories })
      }).then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.json();
      }).then(function (next) {
        if (!next || !Array.isArray(next.categories)) throw new Error('bad state');
        apply(next);
      }).catch(function () {
        form.hidden = false;
        message(T.error);
      }).then(function () {
        busy = false;
        form.removeAttribute('aria-busy');
      });
    }

    function checked() {
      return checkboxes().filter(function (c) { return c.checked && !c.disabled; })
        .map(function (c) { return c.value; });
    }

    document.addEventListener('click', function (e) {
      var el = e.target && e.target.closest ? e.target.closest('[data-consent-action]') : null;
      if (!el) return;
      var action = el.getAttribute('data-consent-action');
      if (action === 'accept-all' || action === 'reject-all' || action === 'save') {
        if (!form.contains(el)) return;
        e.preventDefault();
        choose(action, checked());
      } else if (action === 'open') {
        e.preventDefault();
        show();
      } else if (action === 'allow-category') {
        e.preventDefault();
        var cats = (state.categories || []).slice();
        var cat = el.getAttribute('data-consent-allow');
        if (cat && !has(cats, cat)) cats.push(cat);
        choose('save', cats);
      }
    });
    // Implicit submission (Enter in a field) without a submit button click.
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var b = e.submitter;
      choose((b && b.value) || 'save', checked());
    });
    document.addEventListener('keydown', function (e) {
      if ((e.key === 'Escape' || e.key === 'Esc') && !form.hidden && state.decided) {
        e.preventDefault();
        hide();
      }
    });

    scan(document);
    new MutationObserver(function (records) {
      records.forEach(function (r) {
        Array.prototype.forEach.call(r.addedNodes, function (n) { if (n.nodeType === 1) scan(n); });
      });
    }).observe(document.documentElement, { childList: true, subtree: true });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
