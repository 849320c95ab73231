// jfguard's script inside Jellyfin's web app. It marks the app's sign-in requests as
// coming from a browser, sends the person to jfguard's challenge page when a sign-in
// needs a second factor (before the app can report a failed sign-in), offers "Sign in
// with a passkey" and "Sign in with <provider>" (OIDC) under the app's sign-in form
// when the server allows them, and shows a small link to the two-factor settings
// while someone is signed in. It must not disturb anything else the app does. It
// also tells jfguard the language the person chose in the web app, so jfguard's pages
// speak it, and shows its own words in that language.
(function () {
  'use strict';

  if (window.__jfguard) {
    return;
  }
  window.__jfguard = true;

  var MARKER = 'X-Jfguard-Client';
  var CHALLENGE = 'X-Jfguard-Challenge';
  var SIGN_IN = /\/users\/authenticatebyname(?:[?#]|$)/i;
  // Approving a Quick Connect code needs a recent second step; when it is refused,
  // jfguard names the page where the person proves it and approves the code.
  var QUICK_CONNECT = /\/quickconnect\/authorize(?:[?#]|$)/i;
  var STEP_UP = 'X-Jfguard-Step-Up';
  var realFetch = window.fetch;

  // The web app keeps each user's display language in localStorage, under
  // "<userId>-language": "de", "fr-FR", "zh-CN", or empty (or "auto") for the
  // browser's own. The language of the user who signed in last counts; without one,
  // any user's. Values are language tags; anything else counts as none.
  function webAppLanguage() {
    var store;
    try {
      store = window.localStorage;
    } catch (e) {
      return '';
    }
    if (!store) {
      return '';
    }
    var named = function (v) {
      return v && v.toLowerCase() !== 'auto' && /^[A-Za-z0-9_-]{1,35}$/.test(v) ? v : '';
    };
    var user = null;
    var last = -Infinity;
    try {
      var c = JSON.parse(store.getItem('jellyfin_credentials') || '{}');
      (Array.isArray(c.Servers) ? c.Servers : []).forEach(function (s) {
        var at = Number(s && s.DateLastAccessed) || 0;
        if (s && s.UserId && at > last) {
          user = s.UserId;
          last = at;
        }
      });
    } catch (e) {
      user = null;
    }
    if (user !== null) {
      var own = store.getItem(user + '-language');
      if (own !== null) {
        return named(own);
      }
    }
    for (var i = 0; i < store.length; i++) {
      var key = store.key(i);
      var value = key && /-language$/.test(key) ? named(store.getItem(key)) : '';
      if (value) {
        return value;
      }
    }
    return '';
  }

  // syncLanguage puts the web app's language in the cookie jfguard reads before the
  // browser's Accept-Language (so the challenge page follows the web app), or removes
  // the cookie when the web app leaves it to the browser.
  var LANG_COOKIE = 'jfguard_lang';
  var langSent = null;
  function syncLanguage() {
    var lang = webAppLanguage();
    if (lang === langSent) {
      return;
    }
    langSent = lang;
    var secure = location.protocol === 'https:' ? '; Secure' : '';
    document.cookie = lang ?
      LANG_COOKIE + '=' + encodeURIComponent(lang) + '; Path=/; SameSite=Lax; Max-Age=31536000' + secure :
      LANG_COOKIE + '=; Path=/; SameSite=Lax; Max-Age=0' + secure;
  }

  // The script's words, in the language of jfguard's pages: null until jfguard
  // answered (nothing is shown before), then {id: text}. They include common.js's,
  // left in window.__jfguardWords for it. Only when they cannot be fetched does the
  // script fall back to these few English words of its own.
  var words = null;
  var FALLBACK = {
    // The offline fallback, used only when /jfguard/api/words/inject fails.
    'js.inject.settings_title': 'Two-factor sign-in settings', // i18n: not text (offline fallback)
    'js.inject.settings_link': 'Two-factor sign-in', // i18n: not text (offline fallback)
    'js.inject.passkey_button': 'Sign in with a passkey', // i18n: not text (offline fallback)
    'js.inject.passkey_no_start': 'Passkey sign-in could not start. Reload the page and try again.', // i18n: not text (offline fallback)
    'js.inject.oidc_button': 'Sign in with {{.Name}}' // i18n: not text (offline fallback)
  };

  // t is the text of a message id with its {{.Name}} placeholders filled in.
  function t(id, data) {
    var text = (words && words[id]) || FALLBACK[id] || id;
    return text.replace(/\{\{\s*\.(\w+)\s*\}\}/g, function (m, k) {
      return data && data[k] !== undefined ? String(data[k]) : m;
    });
  }

  function loadWords() {
    var settle = function (answer) {
      if (words) {
        return;
      }
      words = (answer && answer.words) || {};
      if (answer && answer.words) {
        window.__jfguardWords = { lang: answer.lang || 'en', words: answer.words };
      }
      update();
      updatePasskey();
      updateOIDC();
    };
    if (!realFetch) {
      settle(null);
      return;
    }
    setTimeout(function () { settle(null); }, 5000);
    realFetch.call(window, '/jfguard/api/words/inject', { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(settle, function () { settle(null); });
  }

  function sameOrigin(url, pattern) {
    try {
      var u = new URL(url, location.href);
      return u.origin === location.origin && pattern.test(u.pathname);
    } catch (e) {
      return false;
    }
  }

  function isSignIn(url) { return sameOrigin(url, SIGN_IN); }

  // go opens the challenge page in the top window; a web app embedded in a frame from
  // another origin (a TV shell) may not navigate its parent, and then navigates
  // itself. Only jfguard's own pages are followed.
  function go(target) {
    if (!target || target.indexOf('/jfguard/') !== 0) {
      return false;
    }
    var url = new URL(target, location.href).href;
    try {
      window.top.location.assign(url);
    } catch (e) {
      location.assign(url);
    }
    return true;
  }

  // fetch: mark the sign-in, and when jfguard answers with a challenge, leave for
  // the challenge page and never settle, so the app shows no "wrong password".
  if (realFetch) {
    window.fetch = function (input, init) {
      var url = typeof input === 'string' ? input : (input && (input.url || String(input)));
      if (sameOrigin(url, QUICK_CONNECT)) {
        return realFetch.apply(window, arguments).then(function (response) {
          if (response.status === 403 && go(response.headers.get(STEP_UP))) {
            return new Promise(function () {});
          }
          return response;
        });
      }
      if (!isSignIn(url)) {
        return realFetch.apply(window, arguments);
      }
      var request = new Request(input, init);
      request.headers.set(MARKER, 'web');
      return realFetch.call(window, request).then(function (response) {
        if (response.status === 401 && go(response.headers.get(CHALLENGE))) {
          return new Promise(function () {});
        }
        return response;
      });
    };
  }

  // XMLHttpRequest: the replacement class registers its listeners when the request
  // is made, before the app can add its own, so on a challenge it stops every later
  // handler (onreadystatechange, onload, onloadend, addEventListener ones) from
  // running while the browser leaves for the challenge page.
  var RealXHR = window.XMLHttpRequest;
  if (RealXHR) {
    var STOPPED = ['readystatechange', 'load', 'loadend', 'progress', 'error', 'abort', 'timeout'];
    var GuardedXHR = function () {
      var xhr = new RealXHR();
      var challenged = false;
      var stop = function (e) {
        if (!challenged && xhr.__jfguardSignIn && xhr.readyState >= 2 && xhr.status === 401) {
          challenged = go(xhr.getResponseHeader(CHALLENGE));
        }
        if (challenged) {
          e.stopImmediatePropagation();
        }
      };
      STOPPED.forEach(function (type) { xhr.addEventListener(type, stop); });
      var open = xhr.open;
      xhr.open = function (method, url) {
        xhr.__jfguardSignIn = isSignIn(url);
        return open.apply(xhr, arguments);
      };
      var send = xhr.send;
      xhr.send = function () {
        if (xhr.__jfguardSignIn) {
          xhr.setRequestHeader(MARKER, 'web');
        }
        return send.apply(xhr, arguments);
      };
      return xhr;
    };
    GuardedXHR.prototype = RealXHR.prototype;
    ['UNSENT', 'OPENED', 'HEADERS_RECEIVED', 'LOADING', 'DONE'].forEach(function (k) { GuardedXHR[k] = RealXHR[k]; });
    window.XMLHttpRequest = GuardedXHR;
  }

  // The link to the two-factor settings, shown while the web app holds a session.
  // The web app's menus differ between versions, so it floats in a corner instead.
  var link = null;

  function signedIn() {
    try {
      var c = JSON.parse(localStorage.getItem('jellyfin_credentials') || '{}');
      return Array.isArray(c.Servers) && c.Servers.some(function (s) { return s && s.AccessToken; });
    } catch (e) {
      return false;
    }
  }

  // While something plays, the link stays out of the picture.
  function playing() {
    if (document.fullscreenElement) {
      return true;
    }
    var media = document.querySelectorAll('video, audio'); // i18n: not text
    for (var i = 0; i < media.length; i++) {
      if (!media[i].paused) {
        return true;
      }
    }
    return false;
  }

  function makeLink() {
    var a = document.createElement('a');
    a.id = 'jfguard-settings-link';
    a.href = '/jfguard/setup';
    a.title = t('js.inject.settings_title');
    a.textContent = t('js.inject.settings_link');
    Object.assign(a.style, {
      position: 'fixed', right: '16px', bottom: '16px', zIndex: '2147483000',
      display: 'inline-flex', alignItems: 'center', gap: '6px',
      padding: '8px 14px', borderRadius: '999px',
      font: '600 13px/1.2 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
      textDecoration: 'none', letterSpacing: '.01em',
      // Jellyfin's web app is dark unless a person picks a light theme, so the
      // link is a dark pill that reads on either.
      color: '#f2f3f7',
      background: 'rgba(28, 31, 41, .9)',
      border: '1px solid rgba(255, 255, 255, .16)',
      boxShadow: '0 4px 14px rgba(0, 0, 0, .25)',
      opacity: '.82', transition: 'opacity .15s'
    });
    var icon = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    icon.setAttribute('viewBox', '0 0 24 24');
    icon.setAttribute('width', '14');
    icon.setAttribute('height', '14');
    icon.setAttribute('aria-hidden', 'true');
    var path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
    path.setAttribute('d', 'M12 2 4 5v6c0 5 3.4 9.4 8 11 4.6-1.6 8-6 8-11V5l-8-3Z');
    path.setAttribute('fill', '#8f7ff2');
    icon.appendChild(path);
    a.insertBefore(icon, a.firstChild);
    var on = function () { a.style.opacity = '1'; };
    var off = function () { a.style.opacity = '.82'; };
    a.addEventListener('mouseenter', on);
    a.addEventListener('mouseleave', off);
    a.addEventListener('focus', on);
    a.addEventListener('blur', off);
    return a;
  }

  // Passkey sign-in. The server says whether it offers it; the button then sits
  // under the sign-in form's own button while the form is on screen. The sign-in
  // itself is the one jfguard's pages use (common.js, loaded here when the form first
  // shows), which hands the new session to this web app and reloads it.
  var passkeyOffer = null; // null until the server answered, then true or false
  var passkeyBox = null;

  function askPasskeyOffer() {
    passkeyOffer = false;
    if (!window.PublicKeyCredential || !window.isSecureContext || !realFetch) {
      return;
    }
    realFetch.call(window, '/jfguard/api/passkey', { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (st) {
        passkeyOffer = !!(st && st.enabled && st.sign_in);
        updatePasskey();
      }, function () {});
  }

  function loadCommon(done) {
    if (window.jfguard) {
      done(window.jfguard);
      return;
    }
    var existing = document.getElementById('jfguard-common');
    var script = existing || document.createElement('script');
    script.addEventListener('load', function () { done(window.jfguard); });
    script.addEventListener('error', function () { done(null); });
    if (!existing) {
      script.id = 'jfguard-common';
      script.src = '/jfguard/assets/common.js';
      document.head.appendChild(script);
    }
  }

  // The web app's sign-in form, while it is on screen.
  function signInForm() {
    var password = document.getElementById('txtManualPassword');
    if (!password || !password.getClientRects().length) {
      return null;
    }
    return password.form || password.closest('form');
  }

  function makePasskeyBox() {
    var box = document.createElement('div');
    box.id = 'jfguard-passkey';
    Object.assign(box.style, { display: 'flex', flexDirection: 'column', gap: '8px', marginTop: '14px' });
    var button = document.createElement('button');
    button.type = 'button';
    button.id = 'jfguard-passkey-signin';
    Object.assign(button.style, {
      display: 'flex', alignItems: 'center', justifyContent: 'center', gap: '10px',
      width: '100%', margin: '0', padding: '.85em 1.2em', borderRadius: '.2em',
      font: 'inherit', cursor: 'pointer',
      color: 'inherit', background: 'rgba(255, 255, 255, .06)',
      border: '1px solid rgba(255, 255, 255, .28)'
    });
    var icon = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    icon.setAttribute('viewBox', '0 0 24 24');
    icon.setAttribute('width', '20');
    icon.setAttribute('height', '20');
    icon.setAttribute('aria-hidden', 'true');
    icon.innerHTML = '<circle cx="8" cy="9" r="4.2" fill="none" stroke="currentColor" stroke-width="1.8"/>' +
      '<path d="M11.4 11.6 20 20.2M16.6 16.8l2-2M18.6 18.8l1.6-1.6" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/>';
    button.appendChild(icon);
    button.appendChild(document.createTextNode(t('js.inject.passkey_button')));
    var note = document.createElement('p');
    note.id = 'jfguard-passkey-error';
    note.setAttribute('role', 'alert');
    Object.assign(note.style, { margin: '0', color: '#ff8a8a', fontSize: '.92em' });
    note.hidden = true;
    button.addEventListener('click', function () {
      note.hidden = true;
      button.disabled = true;
      button.style.opacity = '.6';
      var fail = function (text) {
        button.disabled = false;
        button.style.opacity = '';
        note.textContent = text;
        note.hidden = false;
      };
      loadCommon(function (J) {
        if (!J) {
          fail(t('js.inject.passkey_no_start'));
          return;
        }
        J.passkeySignIn().then(function (problem) {
          if (problem) {
            fail(problem);
          }
        });
      });
    });
    box.appendChild(button);
    box.appendChild(note);
    return box;
  }

  function updatePasskey() {
    if (!words) {
      return;
    }
    if (passkeyOffer === null) {
      askPasskeyOffer();
      return;
    }
    var form = passkeyOffer ? signInForm() : null;
    if (!form || (passkeyBox && form.contains(passkeyBox))) {
      return;
    }
    if (!passkeyBox) {
      passkeyBox = makePasskeyBox();
      // Fetch the sign-in code while the person reads the form, not on their click.
      loadCommon(function () {});
    }
    var submit = form.querySelector('.button-submit, button[type="submit"]');
    if (submit) {
      submit.insertAdjacentElement('afterend', passkeyBox);
    } else {
      form.appendChild(passkeyBox);
    }
  }

  // Sign-in with an OIDC provider: one link per provider the server lists (names
  // only), beside the passkey button. Each starts the provider's flow, which comes
  // back to jfguard's sign-in page and from there to this web app, signed in.
  var oidcProviders = null; // null until the server answered, then a list
  var oidcBox = null;

  function askOIDCProviders() {
    oidcProviders = [];
    if (!realFetch) {
      return;
    }
    realFetch.call(window, '/jfguard/api/oidc', { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (st) {
        oidcProviders = (st && Array.isArray(st.providers)) ? st.providers : [];
        updateOIDC();
      }, function () {});
  }

  function makeOIDCBox() {
    var box = document.createElement('div');
    box.id = 'jfguard-oidc';
    Object.assign(box.style, { display: 'flex', flexDirection: 'column', gap: '8px', marginTop: '14px' });
    oidcProviders.forEach(function (p) {
      var a = document.createElement('a');
      a.href = '/jfguard/oidc/' + encodeURIComponent(p.id) + '/start';
      a.className = 'jfguard-oidc-signin';
      a.textContent = t('js.inject.oidc_button', { Name: p.name });
      Object.assign(a.style, {
        display: 'block', textAlign: 'center', padding: '.85em 1.2em', borderRadius: '.2em',
        color: 'inherit', textDecoration: 'none', background: 'rgba(255, 255, 255, .06)',
        border: '1px solid rgba(255, 255, 255, .28)'
      });
      box.appendChild(a);
    });
    return box;
  }

  function updateOIDC() {
    if (!words) {
      return;
    }
    if (oidcProviders === null) {
      askOIDCProviders();
      return;
    }
    var form = oidcProviders.length ? signInForm() : null;
    if (!form || (oidcBox && form.contains(oidcBox))) {
      return;
    }
    if (!oidcBox) {
      oidcBox = makeOIDCBox();
    }
    var after = (passkeyBox && form.contains(passkeyBox)) ? passkeyBox : form.querySelector('.button-submit, button[type="submit"]');
    if (after) {
      after.insertAdjacentElement('afterend', oidcBox);
    } else {
      form.appendChild(oidcBox);
    }
  }

  function update() {
    syncLanguage();
    if (!words) {
      return;
    }
    var want = signedIn() && !playing();
    if (want && !link && document.body) {
      link = makeLink();
      document.body.appendChild(link);
    } else if (!want && link) {
      link.remove();
      link = null;
    }
  }

  // The web app writes its session in this same window, which fires no storage
  // event here, so the link also checks on a slow timer.
  window.addEventListener('storage', update);
  window.addEventListener('jfguard:credentials', update);
  document.addEventListener('fullscreenchange', update);
  setInterval(update, 1500);
  // The sign-in form comes and goes with the app's views; looking for it is one
  // lookup by id, so it is checked often enough that the button appears with it.
  setInterval(updatePasskey, 400);
  setInterval(updateOIDC, 400);
  syncLanguage();
  loadWords();
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', function () { update(); updatePasskey(); updateOIDC(); });
  } else {
    update();
    updatePasskey();
    updateOIDC();
  }
}());
