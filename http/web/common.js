// What jfguard's pages share: the Jellyfin web app's session in localStorage, the
// MediaBrowser header jfguard's API reads, JSON requests, and small DOM helpers.
// The pages run under a Content-Security-Policy without inline script, so all
// behaviour lives in these files.
(function () {
  'use strict';

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

  // The header Jellyfin clients send; jfguard's self-service API authenticates the
  // same way, so these pages reuse the web app's sign-in.
  function authorization(client, token) {
    var parts = [['Client', client], ['Device', 'Browser'], ['DeviceId', deviceId()], ['Version', '1']];
    if (token) {
      parts.push(['Token', token]);
    }
    return 'MediaBrowser ' + parts.map(function (p) {
      return p[0] + '="' + encodeURIComponent(p[1]) + '"';
    }).join(', ');
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
      return { status: 0, ok: false, body: { message: 'Cannot reach the server. Check your connection and try again.' }, headers: new Headers() };
    });
  }

  function message(res, fallback) {
    return (res.body && res.body.message) || fallback || 'Something went wrong. Try again.';
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

  var relative = typeof Intl !== 'undefined' && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }) : null;

  // ago says when something happened in words ("5 minutes ago").
  function ago(iso) {
    var t = Date.parse(iso);
    if (!t) {
      return 'never';
    }
    var secs = Math.round((t - Date.now()) / 1000);
    var units = [['year', 31536000], ['month', 2592000], ['week', 604800], ['day', 86400], ['hour', 3600], ['minute', 60]];
    if (Math.abs(secs) < 60) {
      return 'just now';
    }
    if (!relative) {
      return new Date(t).toLocaleString();
    }
    for (var i = 0; i < units.length; i++) {
      if (Math.abs(secs) >= units[i][1]) {
        return relative.format(Math.round(secs / units[i][1]), units[i][0]);
      }
    }
    return 'just now';
  }

  function longDate(iso) {
    var t = Date.parse(iso);
    return t ? new Date(t).toLocaleDateString(undefined, { year: 'numeric', month: 'long', day: 'numeric' }) : '';
  }

  // clock formats a number of seconds as m:ss.
  function clock(secs) {
    secs = Math.max(0, Math.ceil(secs));
    var m = Math.floor(secs / 60);
    var s = secs % 60;
    return m + ':' + (s < 10 ? '0' : '') + s;
  }

  function focus(el) {
    if (el) {
      el.focus({ preventScroll: false });
    }
  }

  window.jfguard = {
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
    focus: focus
  };
}());
