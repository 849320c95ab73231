// What jfguard's pages share: the Jellyfin web app's session in localStorage, the
// MediaBrowser header jfguard's API reads, JSON requests, and small DOM helpers.
// The pages run under a Content-Security-Policy without inline script, so all
// behaviour lives in these files.
(function () {
  'use strict';

  // The page's words, in the language the server chose for it (<html lang>), from
  // the JSON the page carries: id → text, with "id#one" and the like for the plural
  // forms other than "other". Inside Jellyfin's web app there is no such JSON: the
  // injected script fetched the words first and left them in window.__jfguardWords
  // ({lang, words}).
  var LANG = document.documentElement.lang || 'en';
  var words = {};
  var carried = document.getElementById('jfguard-words');
  try {
    if (carried) {
      words = JSON.parse(carried.textContent || '{}') || {};
    } else if (window.__jfguardWords && window.__jfguardWords.words) {
      words = window.__jfguardWords.words;
      LANG = window.__jfguardWords.lang || LANG;
    }
  } catch (e) {
    words = {};
  }

  // fillIn replaces {{.Name}} placeholders with the values given.
  function fillIn(text, data) {
    return text.replace(/\{\{\s*\.(\w+)\s*\}\}/g, function (m, k) {
      return data && data[k] !== undefined ? String(data[k]) : m;
    });
  }

  // t is the text of a message id with its placeholders filled in. A missing id is a
  // mistake the tests catch; the page shows the id rather than nothing.
  function t(id, data) {
    return fillIn(words[id] !== undefined ? words[id] : id, data);
  }

  // has reports whether the page's words hold a message id (for ids made from data,
  // such as an API error's code, which may have no message).
  function has(id) {
    return Object.prototype.hasOwnProperty.call(words, id);
  }

  var plurals = typeof Intl !== 'undefined' && Intl.PluralRules ? new Intl.PluralRules(LANG) : null;

  // tn is t for a message with a count: the plural form the page's language uses
  // for n, with {{.Count}} set to n.
  function tn(id, n, data) {
    var form = plurals ? plurals.select(n) : (n === 1 ? 'one' : 'other');
    var key = form !== 'other' && words[id + '#' + form] !== undefined ? id + '#' + form : id;
    return t(key, Object.assign({ Count: n }, data || {}));
  }

  var CREDENTIALS_KEY = 'jellyfin_credentials';
  var DEVICE_ID_KEY = '_deviceId2';
  // ConnectionMode.Manual in the web app's connection manager: the address the
  // person typed, which is this page's origin.
  var CONNECTION_MODE_MANUAL = 2;

  function readCredentials() {
    try {
      var c = JSON.parse(localStorage.getItem(CREDENTIALS_KEY) || '{}');
      if (c && Array.isArray(c.Servers)) {
        return c;
      }
    } catch (e) {
      // A corrupt entry is treated as none, as the web app does.
    }
    return { Servers: [] };
  }

  // The web app's device id. When it is missing (the web app never ran in this
  // browser) one is made the way the web app makes it, so the web app adopts it and
  // a trusted browser stays bound to the id the web app sends.
  function deviceId() {
    var id = localStorage.getItem(DEVICE_ID_KEY);
    if (!id) {
      id = btoa([navigator.userAgent, Date.now()].join('|')).replace(/=/g, '1');
      localStorage.setItem(DEVICE_ID_KEY, id);
    }
    return id;
  }

  // The server's public identity (Id, ServerName); null when Jellyfin does not
  // answer, which the callers tolerate.
  var serverInfo = null;
  function publicInfo() {
    if (!serverInfo) {
      serverInfo = fetch('/System/Info/Public', { headers: { Accept: 'application/json' } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .catch(function () { return null; });
    }
    return serverInfo;
  }

  // The web app's session for this server: the entry whose Id is the server's, else
  // one whose address is this origin, else any entry with a token.
  function session() {
    return publicInfo().then(function (info) {
      var servers = readCredentials().Servers.filter(function (s) { return s && s.AccessToken; });
      var pick = function (test) { return servers.filter(test)[0]; };
      return (info && pick(function (s) { return s.Id === info.Id; })) ||
        pick(function (s) { return s.ManualAddress === location.origin; }) ||
        servers[0] || null;
    });
  }

  // signedIn hands a Jellyfin AuthenticationResult to the web app: it updates the
  // entry whose Id is the server's (keeping other servers) and returns to /web/,
  // where the web app finds itself signed in.
  function signedIn(auth) {
    return publicInfo().then(function (info) {
      var credentials = readCredentials();
      var id = auth.ServerId || (info && info.Id);
      var entry = credentials.Servers.filter(function (s) { return s && s.Id === id; })[0];
      if (!entry) {
        entry = { Id: id };
        credentials.Servers.push(entry);
      }
      if (info && info.ServerName) {
        entry.Name = info.ServerName;
      }
      entry.AccessToken = auth.AccessToken;
      entry.UserId = auth.User && auth.User.Id;
      entry.ManualAddress = location.origin;
      entry.DateLastAccessed = Date.now();
      entry.LastConnectionMode = CONNECTION_MODE_MANUAL;
      localStorage.setItem(CREDENTIALS_KEY, JSON.stringify(credentials));
      location.assign('/web/');
    });
  }

  // header writes a MediaBrowser authorization header, each value encoded and
  // quoted as the web app writes them.
  function header(parts) {
    return 'MediaBrowser ' + parts.map(function (p) {
      return p[0] + '="' + encodeURIComponent(p[1]) + '"';
    }).join(', ');
  }

  // The header Jellyfin clients send; jfguard's self-service API authenticates the
  // same way, so these pages reuse the web app's sign-in.
  function authorization(client, token) {
    var parts = [['Client', client], ['Device', 'Browser'], ['DeviceId', deviceId()], ['Version', '1']]; // i18n: not text
    if (token) {
      parts.push(['Token', token]); // i18n: not text
    }
    return header(parts);
  }

  // request sends JSON and resolves to {status, ok, body, headers}; a network
  // failure resolves too, with status 0 and a message to show.
  function request(method, url, body, headers) {
    var init = { method: method, headers: Object.assign({ Accept: 'application/json' }, headers || {}), credentials: 'same-origin' };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (r) {
      return r.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        return { status: r.status, ok: r.ok, body: data || {}, headers: r.headers };
      });
    }, function () {
      return { status: 0, ok: false, body: { message: t('js.common.network') }, headers: new Headers() };
    });
  }

  // english: the page is in English, the language of the server's own messages.
  var english = LANG === 'en' || LANG.indexOf('en-') === 0;

  // wait says a number of seconds in words, as the server's messages do: seconds
  // under a minute, else whole minutes.
  function wait(secs) {
    secs = Math.max(1, Math.ceil(secs) || 1);
    return secs < 60 ? tn('js.common.seconds', secs) : tn('js.common.minutes', Math.ceil(secs / 60));
  }

  // message is what to tell a person about an answer of jfguard's API. The server
  // says it in English (message) and names it with a stable code (error): a page in
  // another language shows its own words for the code, js.common.error.<code>, when
  // it has them ({{.Wait}} in them is the answer's retry_after or Retry-After). An
  // English page shows the server's message, which may be more specific than the
  // words for its code. Without a message, fallback says it.
  function message(res, fallback) {
    var body = res.body || {};
    if (body.message) {
      var id = 'js.common.error.' + body.error; // i18n: not text (a message id)
      if (!english && typeof body.error === 'string' && has(id)) {
        var secs = Number(body.retry_after || (res.headers && res.headers.get && res.headers.get('Retry-After')));
        return t(id, { Wait: wait(secs) });
      }
      return body.message;
    }
    return fallback || t('js.common.error_fallback');
  }

  function $(id) { return document.getElementById(id); }

  // showAlert shows a message in a role="alert" box, which screen readers announce.
  function showAlert(el, text) {
    el.textContent = text;
    el.hidden = false;
  }

  function hide(el) {
    el.hidden = true;
    el.textContent = '';
  }

  // busy marks a button as working and disables it; it returns the undo.
  function busy(button) {
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    return function () {
      button.disabled = false;
      button.removeAttribute('aria-busy');
    };
  }

  // digits keeps what a person meant by a 6-digit code: "123 456" and "123-456" too.
  function digits(v) {
    return String(v || '').replace(/[\s-]/g, '');
  }

  var relative = typeof Intl !== 'undefined' && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(LANG, { numeric: 'auto' }) : null;

  // ago says when something happened in words ("5 minutes ago").
  function ago(iso) {
    var at = Date.parse(iso);
    if (!at) {
      return t('js.common.never');
    }
    var secs = Math.round((at - Date.now()) / 1000);
    var units = [['year', 31536000], ['month', 2592000], ['week', 604800], ['day', 86400], ['hour', 3600], ['minute', 60]];
    if (Math.abs(secs) < 60) {
      return t('js.common.just_now');
    }
    if (!relative) {
      return new Date(at).toLocaleString(LANG);
    }
    for (var i = 0; i < units.length; i++) {
      if (Math.abs(secs) >= units[i][1]) {
        return relative.format(Math.round(secs / units[i][1]), units[i][0]);
      }
    }
    return t('js.common.just_now');
  }

  function longDate(iso) {
    var t = Date.parse(iso);
    return t ? new Date(t).toLocaleDateString(LANG, { year: 'numeric', month: 'long', day: 'numeric' }) : '';
  }

  // clock formats a number of seconds as m:ss.
  function clock(secs) {
    secs = Math.max(0, Math.ceil(secs));
    var m = Math.floor(secs / 60);
    var s = secs % 60;
    return m + ':' + (s < 10 ? '0' : '') + s;
  }

  // copy puts text on the clipboard and says so on the button that asked for it. It
  // uses the clipboard API where the page is a secure context, else the old selection
  // copy, which plain-http home servers still allow. It resolves to whether it copied.
  function copy(text, button) {
    var label = button.textContent;
    var copied = function () {
      button.textContent = t('js.common.copied');
      setTimeout(function () { button.textContent = label; }, 2000);
      return true;
    };
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).then(copied, function () { return false; });
    }
    var area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'sr-only';
    document.body.appendChild(area);
    area.select();
    var done = false;
    try { done = document.execCommand('copy'); } catch (e) { done = false; }
    area.remove();
    return Promise.resolve(done ? copied() : false);
  }

  function focus(el) {
    if (el) {
      el.focus({ preventScroll: false });
    }
  }

  // Passkeys. jfguard sends WebAuthn options in their JSON form (binary values as
  // base64url); the browser's API wants bytes, and jfguard wants the answer back as
  // JSON, so these convert both ways without relying on the newer toJSON helpers.
  function fromB64url(s) {
    var bin = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4));
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function toB64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = '';
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function passkeysSupported() {
    return !!(window.PublicKeyCredential && navigator.credentials && window.isSecureContext);
  }

  function credentialJSON(cred, response) {
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: response
    };
  }

  // createPasskey runs navigator.credentials.create with jfguard's options.
  function createPasskey(publicKey) {
    publicKey.challenge = fromB64url(publicKey.challenge);
    publicKey.user.id = fromB64url(publicKey.user.id);
    (publicKey.excludeCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
    return navigator.credentials.create({ publicKey: publicKey }).then(function (cred) {
      var r = cred.response;
      return credentialJSON(cred, {
        clientDataJSON: toB64url(r.clientDataJSON),
        attestationObject: toB64url(r.attestationObject),
        transports: r.getTransports ? r.getTransports() : []
      });
    });
  }

  // getPasskey runs navigator.credentials.get with jfguard's options.
  function getPasskey(publicKey) {
    publicKey.challenge = fromB64url(publicKey.challenge);
    (publicKey.allowCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
    return navigator.credentials.get({ publicKey: publicKey }).then(function (cred) {
      var r = cred.response;
      return credentialJSON(cred, {
        clientDataJSON: toB64url(r.clientDataJSON),
        authenticatorData: toB64url(r.authenticatorData),
        signature: toB64url(r.signature),
        userHandle: r.userHandle ? toB64url(r.userHandle) : undefined
      });
    });
  }

  // passkeyProblem says in words why the browser's passkey call failed.
  function passkeyProblem(err, fallback) {
    switch (err && err.name) {
      case 'NotAllowedError':
      case 'AbortError':
        return t('js.common.passkey_not_used');
      case 'InvalidStateError':
        return t('js.common.passkey_exists');
      case 'SecurityError':
        return t('js.common.passkey_wrong_address');
      case 'NotSupportedError':
        return t('js.common.passkey_unsupported_kind');
    }
    return (err && err.message) || fallback || t('js.common.passkey_failed');
  }

  // webAppAuthorization is the header the Jellyfin web app sends for this browser,
  // so a session jfguard mints for a passkey sign-in is the web app's own. Inside the
  // web app its API client says exactly what it sends; on jfguard's pages the same
  // values are derived the way the web app derives them.
  function webAppAuthorization() {
    var api = window.ApiClient;
    if (api && typeof api.appName === 'function' && typeof api.deviceId === 'function') {
      return Promise.resolve(header([['Client', api.appName()], ['Device', api.deviceName()], ['DeviceId', api.deviceId()], ['Version', api.appVersion()]])); // i18n: not text
    }
    var ua = navigator.userAgent;
    var device = /Edg\//.test(ua) ? 'Edge Chromium' : /Firefox\//.test(ua) ? 'Firefox' : /Chrome\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : 'Web Browser'; // i18n: not text
    return publicInfo().then(function (info) {
      return header([['Client', 'Jellyfin Web'], ['Device', device], ['DeviceId', deviceId()], ['Version', (info && info.Version) || '1']]); // i18n: not text
    });
  }

  // passkeySignIn signs in with a passkey alone and hands the session to the web
  // app. It resolves to an error message when it did not sign in.
  function passkeySignIn() {
    if (!passkeysSupported()) {
      return Promise.resolve(t('js.common.passkeys_unsupported'));
    }
    var header;
    return webAppAuthorization().then(function (h) {
      header = h;
      return request('POST', '/jfguard/api/passkey/begin', {}, { Authorization: header });
    }).then(function (res) {
      if (!res.ok || !res.body.publicKey) {
        throw new Error(message(res, t('js.common.passkey_sign_in_unavailable')));
      }
      return getPasskey(res.body.publicKey);
    }).then(function (credential) {
      return request('POST', '/jfguard/api/passkey/finish', credential, { Authorization: header });
    }).then(function (res) {
      if (res.ok && res.body.auth) {
        return signedIn(res.body.auth).then(function () { return ''; });
      }
      return message(res, t('js.common.passkey_sign_in_failed'));
    }, function (err) {
      return passkeyProblem(err);
    });
  }

  // oidcSignIn finishes a sign-in an OIDC provider vouched for (the handoff of
  // /jfguard/oidc/<id>/callback) and hands the session to the web app. It resolves
  // to an error message when it did not sign in.
  function oidcSignIn(handoff) {
    return webAppAuthorization().then(function (header) {
      return request('POST', '/jfguard/oidc/finish', { handoff: handoff }, { Authorization: header });
    }).then(function (res) {
      if (res.ok && res.body.auth) {
        return signedIn(res.body.auth).then(function () { return ''; });
      }
      return message(res, t('js.common.oidc_unfinished'));
    });
  }

  // The icons of list rows (static markup, never data).
  var icons = {
    browser: '<svg viewBox="0 0 24 24"><rect x="3" y="4.5" width="18" height="15" rx="2.5" fill="none" stroke="currentColor" stroke-width="1.8"/><path d="M3 9h18" stroke="currentColor" stroke-width="1.8"/><circle cx="6.5" cy="6.8" r=".9" fill="currentColor"/><circle cx="9.3" cy="6.8" r=".9" fill="currentColor"/></svg>',
    session: '<svg viewBox="0 0 24 24"><rect x="3" y="4" width="18" height="12" rx="2" fill="none" stroke="currentColor" stroke-width="1.8"/><path d="M8.5 20h7M12 16v4" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/></svg>',
    device: '<svg viewBox="0 0 24 24"><rect x="2.5" y="5" width="19" height="12" rx="2" fill="none" stroke="currentColor" stroke-width="1.8"/><path d="m9 20.5 3-3.5 3 3.5" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linejoin="round"/></svg>',
    key: '<svg viewBox="0 0 24 24"><circle cx="8" cy="9" r="4.2" fill="none" stroke="currentColor" stroke-width="1.8"/><path d="M11.4 11.6 20 20.2M16.6 16.8l2-2M18.6 18.8l1.6-1.6" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/></svg>',
    app: '<svg viewBox="0 0 24 24"><rect x="3.5" y="3.5" width="7" height="7" rx="1.8" fill="none" stroke="currentColor" stroke-width="1.8"/><rect x="13.5" y="3.5" width="7" height="7" rx="1.8" fill="none" stroke="currentColor" stroke-width="1.8"/><rect x="3.5" y="13.5" width="7" height="7" rx="1.8" fill="none" stroke="currentColor" stroke-width="1.8"/><path d="M17 13.5v7M13.5 17h7" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/></svg>',
    bell: '<svg viewBox="0 0 24 24"><path d="M6 16.5V11a6 6 0 0 1 12 0v5.5l1.5 2H4.5l1.5-2ZM10 20.5a2 2 0 0 0 4 0" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linejoin="round"/></svg>'
  };

  // button makes a small list-row button that runs onClick with itself.
  function button(label, cls, onClick) {
    var b = document.createElement('button');
    b.type = 'button';
    b.className = 'button button-small ' + cls; // i18n: not text
    b.textContent = label;
    b.addEventListener('click', function () { onClick(b); });
    return b;
  }

  // row builds one line of a list from the page's <template id="tpl-row">.
  function row(icon, name, meta, badge, actions) {
    var li = $('tpl-row').content.firstElementChild.cloneNode(true);
    li.querySelector('.row-icon').innerHTML = icons[icon];
    li.querySelector('.row-name').textContent = name;
    li.querySelector('.row-meta').textContent = meta.filter(Boolean).join(' · ');
    if (badge) {
      var b = li.querySelector('.row-badge');
      b.textContent = badge;
      b.hidden = false;
    }
    (actions || []).forEach(function (a) { li.querySelector('.row-actions').appendChild(a); });
    return li;
  }

  // fill replaces a list's items.
  function fill(listId, items) {
    var list = $(listId);
    list.replaceChildren.apply(list, items);
  }

  window.jfguard = {
    lang: LANG,
    t: t,
    tn: tn,
    has: has,
    readCredentials: readCredentials,
    deviceId: deviceId,
    publicInfo: publicInfo,
    session: session,
    signedIn: signedIn,
    authorization: authorization,
    request: request,
    message: message,
    $: $,
    showAlert: showAlert,
    hide: hide,
    busy: busy,
    digits: digits,
    ago: ago,
    longDate: longDate,
    clock: clock,
    focus: focus,
    copy: copy,
    passkeysSupported: passkeysSupported,
    createPasskey: createPasskey,
    getPasskey: getPasskey,
    passkeyProblem: passkeyProblem,
    passkeySignIn: passkeySignIn,
    oidcSignIn: oidcSignIn,
    button: button,
    row: row,
    fill: fill
  };
}());
