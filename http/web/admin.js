// The admin page: the audit timeline with its live feed, replay to a past moment,
// users, devices, bans, settings, alerts and the audit log's integrity. It calls
// jfguard's control API with the Jellyfin web app's session from this browser; the
// API lets in only an administrator's verified session, so the page has nothing to
// show anyone else. Everything from the server is written as text, never as markup.
(function () {
  'use strict';

  var J = window.jfguard;
  var token = null;
  var selfId = '';
  var users = [];
  var userNames = {};
  var types = {};
  var alertBox = J.$('alert');
  var notice = J.$('notice');

  var TIMELINE_LIMIT = 200;
  // The live feed keeps the table to this many rows, so a busy server does not
  // slow the page down over a long watch.
  var TIMELINE_MAX_ROWS = 500;

  var methodWords = { totp: 'Authenticator', passkey: 'Passkey', email: 'Email', recovery: 'Recovery codes' };

  // Why a session was let in, in the words of the setup page.
  var reasons = {
    no_2fa: 'No second step set up',
    jfguard_disabled: 'Checks were off',
    lan: 'Home network',
    trusted_browser: 'Trusted browser',
    challenge: 'Second step',
    pairing: 'Approved device',
    app_password: 'App password',
    passkey_sign_in: 'Passkey',
    quick_connect: 'Quick Connect',
    adopted: 'Adopted at install'
  };

  // The policy keys in words, grouped as an admin thinks of them. A key the page
  // does not know yet still shows, under its own name, as plain text.
  var settingGroups = ['Second step', 'Home network', 'Passwords', 'Lockouts and bans', 'Other'];
  var settingsMeta = {
    'security.enabled': { group: 'Second step', label: 'Check sign-ins', kind: 'bool', help: 'Off lets every sign-in through with the password alone, for everyone. Each sign-in is still recorded.' },
    'security.require_all': { group: 'Second step', label: 'Require a second step from everyone', kind: 'bool', help: 'Also users who have not set one up need a second step to sign in.' },
    'security.trust_cookie_days': { group: 'Second step', label: 'Trust a browser for', kind: 'int', unit: 'days', help: 'How long “Trust this browser” skips the second step: 1 to 365 days.' },
    'security.lan_bypass': { group: 'Home network', label: 'Skip the second step at home', kind: 'bool', help: 'Sign-ins from the home network ranges below need the password only.' },
    'security.lan_cidrs': { group: 'Home network', label: 'Home network ranges', kind: 'list', help: 'Addresses and ranges, separated by commas, e.g. 192.168.0.0/16, 10.0.0.0/8.' },
    'security.loopback_bypass': { group: 'Home network', label: 'Count this machine as home', kind: 'bool', help: 'Adds 127.0.0.1 and ::1. Leave it off when a reverse proxy on this machine forwards every visitor.' },
    'security.lockout_threshold': { group: 'Lockouts and bans', label: 'Wrong second steps before a lockout', kind: 'int', help: 'Wrong codes within a short window that lock the user’s second step: 1 to 100.' },
    'security.lockout_duration': { group: 'Lockouts and bans', label: 'A lockout lasts', kind: 'duration', help: 'A duration such as 15m or 1h.' },
    'security.challenge_max_failures': { group: 'Lockouts and bans', label: 'Wrong codes per sign-in', kind: 'int', help: 'After this many, the sign-in ends and must start again with the password: 1 to 100.' },
    'security.ban_threshold': { group: 'Lockouts and bans', label: 'Failed sign-ins before a ban', kind: 'int', help: 'Failed sign-ins from one address within a short window that ban it. 0 turns bans off.' },
    'security.ban_duration': { group: 'Lockouts and bans', label: 'A ban lasts', kind: 'duration', help: 'A duration such as 1h or 24h.' },
    'security.password_failures_per_ip_per_minute': { group: 'Passwords', label: 'Failed sign-ins a minute from one network', kind: 'int', help: 'More wait a moment before jfguard passes another password to Jellyfin: 0 to 1000, 0 for no limit.' },
    'security.password_hold_after': { group: 'Passwords', label: 'Wrong passwords before a pause', kind: 'int', help: 'Wrong passwords for one user name within the window below that pause password sign-in for that name: 0 to 100, 0 for never.' },
    'security.password_hold_window': { group: 'Passwords', label: 'Counting wrong passwords over', kind: 'duration', help: 'A duration such as 15m.' },
    'security.password_hold_duration': { group: 'Passwords', label: 'A pause lasts', kind: 'duration', help: 'A duration such as 15m or 1h.' },
    'security.jellyfin_lockout_attempts': { group: 'Passwords', label: 'Jellyfin locks an account after', kind: 'int', unit: 'wrong passwords', help: 'Used only without a Jellyfin admin API key: jfguard stops one short of it. 0 when Jellyfin’s lockout is off.' }
  };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) {
      e.className = cls;
    }
    if (text !== undefined && text !== null) {
      e.textContent = text;
    }
    return e;
  }

  // cell is a table cell; its label heads it when a narrow screen stacks the table.
  function cell(label) {
    var td = el('td');
    td.setAttribute('data-label', label);
    for (var i = 1; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === '') {
        continue;
      }
      td.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    if (!td.childNodes.length) {
      td.appendChild(el('span', 'none', '—'));
    }
    return td;
  }

  function badge(text, cls) {
    return el('span', 'badge' + (cls ? ' ' + cls : ''), text);
  }

  // fillBody puts rows in a table; a table without rows is hidden, and the line
  // after it says there is nothing.
  function fillBody(table, rows) {
    var t = J.$(table);
    t.tBodies[0].replaceChildren.apply(t.tBodies[0], rows);
    t.closest('.table-wrap').hidden = rows.length === 0;
  }

  // Times: the event's own instant in the title, the reader's local time in the text.
  function timeEl(iso) {
    var t = el('time');
    var d = new Date(iso);
    if (isNaN(d.getTime())) {
      t.textContent = iso || '—';
      return t;
    }
    t.dateTime = iso;
    t.title = d.toISOString();
    t.appendChild(el('span', 'time-clock', d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' })));
    t.appendChild(el('span', 'time-date', d.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' })));
    return t;
  }

  function shortTime(iso) {
    var d = new Date(iso);
    return isNaN(d.getTime()) ? String(iso) : d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }

  // localInput writes an instant as a datetime-local input's value, in local time.
  function localInput(d) {
    var p = function (n) { return (n < 10 ? '0' : '') + n; };
    return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
  }

  function nameOf(id) {
    return userNames[id] || id;
  }

  // Messages.

  function error(text) {
    J.hide(notice);
    J.showAlert(alertBox, text);
    alertBox.scrollIntoView({ block: 'nearest' });
  }

  function tell(text) {
    J.hide(alertBox);
    notice.textContent = text;
    notice.hidden = false;
    notice.scrollIntoView({ block: 'nearest' });
  }

  function clearMessages() {
    J.hide(alertBox);
    J.hide(notice);
  }

  function fieldError(form, text, input) {
    var p = form.querySelector('.field-error');
    p.textContent = text;
    p.hidden = false;
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      // Selected, so typing the correction replaces the mistake.
      if (typeof input.select === 'function') {
        input.select();
      }
      J.focus(input);
    }
  }

  // ipProblem says what an address field wants when the server refused its value.
  function ipProblem(message) {
    if (!/^ip /.test(message)) {
      return '';
    }
    return /prefix/.test(message) ? message.replace(/^ip /, '') : 'Enter an IP address, like 203.0.113.7 or 2001:db8::7, or an IPv6 prefix, like 2001:db8:1:2::/64.';
  }

  function clearFieldError(form) {
    var p = form.querySelector('.field-error');
    p.hidden = true;
    p.textContent = '';
    Array.prototype.forEach.call(form.querySelectorAll('[aria-invalid]'), function (i) { i.removeAttribute('aria-invalid'); });
  }

  // The control API. rpcBatch sends calls as one JSON-RPC batch and resolves to
  // their answers in order, each {result} or {error: {message}}; the server runs a
  // batch's calls one after another, in order.
  var rpcId = 0;

  // rpcBatch sends calls; a change refused for want of a recent second step asks for
  // it (stepUp) and is sent again. Cancelling leaves the refusal as the answer.
  function rpcBatch(calls) {
    return sendBatch(calls).then(function (answers) {
      var refused = [];
      answers.forEach(function (a, i) {
        if (a.error && a.error.code === -32001 && a.error.data && a.error.data.error === 'step_up_required') {
          refused.push(i);
        }
      });
      if (!refused.length) {
        return answers;
      }
      return stepUp().then(function (proved) {
        if (!proved) {
          return answers;
        }
        return sendBatch(refused.map(function (i) { return calls[i]; })).then(function (again) {
          refused.forEach(function (i, k) { answers[i] = again[k]; });
          return answers;
        });
      });
    });
  }

  // stepUp asks the administrator for the second step again, in a dialog, and
  // resolves to whether it was proven.
  var pendingStepUp = null;
  function stepUp() {
    if (pendingStepUp) {
      return pendingStepUp;
    }
    var d = J.$('stepup-dialog');
    var form = J.$('stepup-form');
    var input = J.$('stepup-code');
    var byPasskey = J.$('stepup-passkey');
    var auth = { Authorization: J.authorization('jfguard', token) };
    pendingStepUp = new Promise(function (resolve) {
      var finished = false;
      var onClose, onSubmit, onPasskey;
      var finish = function (proved) {
        if (finished) {
          return;
        }
        finished = true;
        pendingStepUp = null;
        d.removeEventListener('close', onClose);
        form.removeEventListener('submit', onSubmit);
        byPasskey.removeEventListener('click', onPasskey);
        if (d.open) {
          d.close();
        }
        resolve(proved);
      };
      var prove = function (body, button) {
        var undo = J.busy(button);
        return J.request('POST', '/jfguard/api/me/step-up', body, auth).then(function (res) {
          undo();
          if (res.ok) {
            finish(true);
            return;
          }
          fieldError(form, J.message(res, 'That did not work. Try again.'), input);
        });
      };
      onClose = function () { finish(false); };
      onSubmit = function (e) {
        e.preventDefault();
        clearFieldError(form);
        var raw = input.value.trim();
        var code = /^[0-9\s-]+$/.test(raw) ? J.digits(raw) : raw;
        if (!code) {
          fieldError(form, 'Enter a code.', input);
          return;
        }
        prove({ code: code }, J.$('stepup-confirm'));
      };
      onPasskey = function () {
        clearFieldError(form);
        J.request('POST', '/jfguard/api/me/passkeys/proof', {}, auth).then(function (res) {
          if (!res.ok) {
            fieldError(form, J.message(res));
            return null;
          }
          return J.getPasskey(res.body.publicKey).then(function (credential) {
            return prove({ method: 'passkey', ceremony: res.body.ceremony, credential: credential }, byPasskey);
          });
        }).catch(function (err) { fieldError(form, J.passkeyProblem(err)); });
      };
      d.addEventListener('close', onClose);
      form.addEventListener('submit', onSubmit);
      byPasskey.addEventListener('click', onPasskey);
      input.value = '';
      clearFieldError(form);
      byPasskey.hidden = !J.passkeysSupported();
      d.showModal();
      J.focus(input);
    });
    return pendingStepUp;
  }

  function sendBatch(calls) {
    var body = calls.map(function (c) { return { jsonrpc: '2.0', id: ++rpcId, method: c[0], params: c[1] || {} }; });
    var failed = function (message, denied) {
      return calls.map(function () { return { error: { message: message }, denied: denied }; });
    };
    return J.request('POST', '/jfguard/rpc', body, { Authorization: J.authorization('jfguard', token) }).then(function (res) {
      if (res.status === 403) {
        lost();
        return failed('Administrators only.', true);
      }
      if (!res.ok || !Array.isArray(res.body)) {
        return failed(J.message(res, 'The server did not answer. Try again.'), false);
      }
      var byId = {};
      res.body.forEach(function (r) { byId[r.id] = r; });
      return body.map(function (b) { return byId[b.id] || { error: { message: 'The server did not answer this call.' } }; });
    });
  }

  function rpc(method, params) {
    return rpcBatch([[method, params]]).then(function (answers) { return answers[0]; });
  }

  // What the page shows: loading, the refusals, or the admin sections.
  function show(name) {
    ['loading', 'signed-out', 'refused', 'ready'].forEach(function (n) { J.$('state-' + n).hidden = n !== name; });
    if (name === 'signed-out') {
      J.focus(J.$('signed-out-heading'));
    } else if (name === 'refused') {
      J.focus(J.$('refused-heading'));
    }
  }

  // lost works out why the control API refused: the session ended (sign in again)
  // or it is not an administrator's.
  function lost() {
    stopLive();
    return J.request('GET', '/jfguard/api/me', undefined, { Authorization: J.authorization('jfguard', token) }).then(function (res) {
      if (res.status === 401) {
        show('signed-out');
        return;
      }
      if (res.ok && res.body.user) {
        J.$('refused-text').textContent = 'You are signed in to Jellyfin as ' + res.body.user.name +
          ', who is not an administrator. Your own two-factor settings are on the setup page.';
      }
      show('refused');
    });
  }

  // Tabs: a vertical list beside the sections on a wide screen, a row above them on
  // a narrow one; the arrow keys move along either.
  var tabs = Array.prototype.slice.call(document.querySelectorAll('[role="tab"]'));
  var loaders = {};
  var narrow = window.matchMedia('(max-width: 860px)');

  function orient() {
    document.querySelector('[role="tablist"]').setAttribute('aria-orientation', narrow.matches ? 'horizontal' : 'vertical');
  }
  orient();
  if (narrow.addEventListener) {
    narrow.addEventListener('change', orient);
  }

  function tabName(tab) {
    return tab.id.replace(/^tab-/, '');
  }

  function select(name, moveFocus) {
    var tab = J.$('tab-' + name) || tabs[0];
    tabs.forEach(function (t) {
      var on = t === tab;
      t.setAttribute('aria-selected', on ? 'true' : 'false');
      t.tabIndex = on ? 0 : -1;
      J.$(t.getAttribute('aria-controls')).hidden = !on;
    });
    if (moveFocus) {
      tab.focus();
    }
    clearMessages();
    if (location.hash !== '#' + tabName(tab)) {
      history.replaceState(null, '', '#' + tabName(tab));
    }
    return loaders[tabName(tab)]();
  }

  tabs.forEach(function (t, i) {
    t.addEventListener('click', function () { select(tabName(t)); });
    t.addEventListener('keydown', function (e) {
      var next = null;
      switch (e.key) {
        case 'ArrowDown':
        case 'ArrowRight':
          next = tabs[(i + 1) % tabs.length];
          break;
        case 'ArrowUp':
        case 'ArrowLeft':
          next = tabs[(i - 1 + tabs.length) % tabs.length];
          break;
        case 'Home':
          next = tabs[0];
          break;
        case 'End':
          next = tabs[tabs.length - 1];
          break;
      }
      if (next) {
        e.preventDefault();
        select(tabName(next), true);
      }
    });
  });

  // Users, for the name column and the pickers.
  function setUsers(list) {
    users = list || [];
    userNames = {};
    users.forEach(function (u) { userNames[u.id] = u.name; });
    ['filter-user', 'replay-user', 'devices-user'].forEach(function (id) {
      var sel = J.$(id);
      var keep = sel.value;
      var first = id === 'devices-user' ? [] : [sel.options[0]];
      sel.replaceChildren.apply(sel, first.concat(users.map(function (u) {
        var o = el('option', '', u.name + (u.admin ? ' (administrator)' : ''));
        o.value = u.id;
        return o;
      })));
      if (keep && userNames[keep]) {
        sel.value = keep;
      }
    });
  }

  function refreshUsers() {
    return rpc('users.list').then(function (a) {
      if (!a.error) {
        setUsers(a.result);
      }
      return a;
    });
  }

  // The timeline.
  var filter = { user: '', ip: '', type: '' };
  var shown = {};
  // seen is the stream position the timeline has reached: the live feed goes on from
  // the next event, so nothing falls between the query and the feed.
  var seen = 0;

  function typeInfo(type) {
    return types[type] || { type: type, label: type.replace(/_/g, ' '), tone: '', summary: '', hidden: [] };
  }

  function shorten(v) {
    return v.length > 14 && v.indexOf(' ') < 0 ? v.slice(0, 8) + '…' : v;
  }

  // details are the payload's fields a reader can use, as label and value. The
  // catalog names the fields to leave out: sealed values, hashes and key material.
  function details(ev, info) {
    var out = [];
    var data = ev.data || {};
    Object.keys(data).forEach(function (k) {
      var v = data[k];
      if (info.hidden.indexOf(k) >= 0 || (k === 'username' && ev.aggregate === 'ip')) {
        return;
      }
      if (Array.isArray(v)) {
        if (!v.length || typeof v[0] === 'object') {
          return;
        }
        v = v.join(', ');
      } else if (typeof v === 'boolean') {
        v = v ? 'yes' : 'no';
      } else if (v === null || v === '' || typeof v === 'object') {
        return;
      } else if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(v)) {
        v = shortTime(v);
      }
      out.push([k.replace(/_/g, ' '), String(v)]);
    });
    if (ev.actor && ev.actor !== ev.aggregate_id) {
      out.push(['by', nameOf(ev.actor)]);
    }
    return out;
  }

  function filterButton(text, label, apply) {
    var b = el('button', 'cell-link', text);
    b.type = 'button';
    b.title = label;
    b.setAttribute('aria-label', label);
    b.addEventListener('click', function () {
      apply();
      loadTimeline();
    });
    return b;
  }

  function eventRow(ev) {
    var info = typeInfo(ev.type);
    var tr = el('tr');
    tr.setAttribute('data-seq', ev.seq);
    tr.setAttribute('data-type', ev.type);

    var b = badge(info.label, 'badge-' + (info.tone || 'plain'));
    b.title = info.summary;
    var kind = el('span', 'event-kind');
    kind.appendChild(b);
    kind.appendChild(el('code', 'event-type', ev.type));

    var who = null;
    if (ev.aggregate === 'user') {
      var uid = ev.aggregate_id;
      tr.setAttribute('data-user', nameOf(uid));
      who = filterButton(nameOf(uid), 'Show only ' + nameOf(uid) + '’s events', function () {
        J.$('filter-user').value = uid;
      });
    } else if (ev.data && ev.data.username) {
      who = el('span', 'typed', ev.data.username);
      who.title = 'The user name typed at sign-in';
    }

    // Where from: the address, then the app and device that sent the request.
    var from = el('span', 'from');
    var ip = ev.ip || ev.address || '';
    if (ip) {
      var where = filterButton(ip, 'Show only events of ' + ip, function () { J.$('filter-ip').value = ip; });
      where.classList.add('mono');
      from.appendChild(where);
    }
    if (ev.device && (ev.device.client || ev.device.name)) {
      from.appendChild(el('span', 'app-client', [ev.device.client, ev.device.version].filter(Boolean).join(' ')));
      if (ev.device.name) {
        from.appendChild(el('span', 'app-device', ev.device.name));
      }
    }

    var kv = null;
    var pairs = details(ev, info);
    if (pairs.length) {
      kv = el('ul', 'kv');
      pairs.forEach(function (p) {
        var li = el('li');
        li.appendChild(el('span', 'kv-key', p[0]));
        var v = el('span', 'kv-value', shorten(p[1]));
        if (v.textContent !== p[1]) {
          v.title = p[1];
        }
        li.appendChild(v);
        kv.appendChild(li);
      });
    }

    tr.appendChild(cell('Time', timeEl(ev.time)));
    tr.appendChild(cell('Event', kind));
    tr.appendChild(cell('User', who));
    tr.appendChild(cell('From', from.childNodes.length ? from : null));
    tr.appendChild(cell('Details', kv));
    return tr;
  }

  function readFilters() {
    filter = { user: J.$('filter-user').value, ip: J.$('filter-ip').value.trim(), type: J.$('filter-type').value };
  }

  function timelineCount(n) {
    var words = n === 0 ? '' : n >= TIMELINE_LIMIT ? 'The ' + n + ' newest events' : n === 1 ? '1 event' : n + ' events';
    J.$('timeline-empty').hidden = n > 0;
    return words;
  }

  function loadTimeline() {
    var form = J.$('filters');
    clearFieldError(form);
    readFilters();
    stopStream();
    var q = { tail: true, limit: TIMELINE_LIMIT };
    if (filter.user) {
      q.user = filter.user;
    }
    if (filter.ip) {
      q.ip = filter.ip;
    }
    if (filter.type) {
      q.types = [filter.type];
    }
    J.$('timeline').setAttribute('aria-busy', 'true');
    return rpcBatch([['system.status'], ['audit.query', q]]).then(function (a) {
      J.$('timeline').removeAttribute('aria-busy');
      if (a[1].denied) {
        return;
      }
      if (a[1].error) {
        var msg = a[1].error.message || 'The events could not be loaded.';
        fieldError(form, ipProblem(msg) || msg, ipProblem(msg) ? J.$('filter-ip') : null);
        return;
      }
      if (a[0].result) {
        serverStatus(a[0].result);
      }
      seen = a[0].result ? a[0].result.last_sequence : 0;
      var evs = (a[1].result || []).slice().reverse();
      shown = {};
      evs.forEach(function (ev) {
        shown[ev.seq] = true;
        if (ev.seq > seen) {
          seen = ev.seq;
        }
      });
      fillBody('timeline', evs.map(eventRow));
      setLiveStatus(timelineCount(evs.length));
      if (live.on) {
        startStream();
      }
    });
  }

  J.$('filters').addEventListener('submit', function (e) {
    e.preventDefault();
    loadTimeline();
  });
  ['filter-user', 'filter-type'].forEach(function (id) {
    J.$(id).addEventListener('change', loadTimeline);
  });
  J.$('filter-clear').addEventListener('click', function () {
    J.$('filter-user').value = '';
    J.$('filter-ip').value = '';
    J.$('filter-type').value = '';
    loadTimeline();
  });

  // The live feed. EventSource cannot send the Authorization header the feed needs,
  // so the page reads the server-sent events from a streaming fetch.
  var live = { on: false, ctrl: null, retry: 0 };

  function setLiveStatus(text) {
    J.$('live-status').textContent = text;
  }

  function matches(ev) {
    if (filter.type && ev.type !== filter.type) {
      return false;
    }
    if (filter.user && !(ev.aggregate === 'user' && ev.aggregate_id === filter.user) && ev.actor !== filter.user) {
      return false;
    }
    if (filter.ip && ev.ip !== filter.ip && ev.address !== filter.ip) {
      return false;
    }
    return true;
  }

  function onFeedMessage(block) {
    var data = [];
    block.split(/\r?\n/).forEach(function (line) {
      if (line.indexOf('data:') === 0) {
        data.push(line.slice(5).replace(/^ /, ''));
      }
    });
    if (!data.length) {
      return;
    }
    var ev;
    try { ev = JSON.parse(data.join('\n')); } catch (e) { return; }
    if (ev.seq > seen) {
      seen = ev.seq;
    }
    if (ev.type === 'user_discovered' && ev.data && ev.data.name && !userNames[ev.aggregate_id]) {
      userNames[ev.aggregate_id] = ev.data.name;
    }
    if (shown[ev.seq] || !matches(ev)) {
      return;
    }
    shown[ev.seq] = true;
    var body = J.$('timeline-body');
    var row = eventRow(ev);
    row.classList.add('is-new');
    body.insertBefore(row, body.firstChild);
    while (body.rows.length > TIMELINE_MAX_ROWS) {
      body.deleteRow(-1);
    }
    J.$('timeline-empty').hidden = true;
    body.closest('.table-wrap').hidden = false;
  }

  function stopStream() {
    clearTimeout(live.retry);
    if (live.ctrl) {
      live.ctrl.abort();
      live.ctrl = null;
    }
  }

  function startStream() {
    stopStream();
    var ctrl = new AbortController();
    live.ctrl = ctrl;
    var url = '/jfguard/api/events?from=' + (seen + 1) + (filter.type ? '&type=' + encodeURIComponent(filter.type) : '');
    fetch(url, {
      headers: { Authorization: J.authorization('jfguard', token), Accept: 'text/event-stream' },
      signal: ctrl.signal,
      cache: 'no-store',
      credentials: 'same-origin'
    }).then(function (r) {
      if (r.status === 403) {
        lost();
        return null;
      }
      if (!r.ok || !r.body) {
        throw new Error('the feed answered ' + r.status);
      }
      J.$('live').classList.add('is-connected');
      setLiveStatus('Live: new events appear at the top as they happen.');
      var reader = r.body.getReader();
      var decoder = new TextDecoder();
      var buf = '';
      var pump = function () {
        return reader.read().then(function (chunk) {
          if (chunk.done) {
            throw new Error('the feed ended');
          }
          buf += decoder.decode(chunk.value, { stream: true });
          var blocks = buf.split(/\r?\n\r?\n/);
          buf = blocks.pop();
          blocks.forEach(onFeedMessage);
          return pump();
        });
      };
      return pump();
    }).catch(function () {
      if (ctrl.signal.aborted || live.ctrl !== ctrl || !live.on) {
        return;
      }
      J.$('live').classList.remove('is-connected');
      setLiveStatus('The live feed was interrupted. Reconnecting…');
      live.retry = setTimeout(startStream, 3000);
    });
  }

  function stopLive() {
    live.on = false;
    stopStream();
    var b = J.$('live');
    b.setAttribute('aria-checked', 'false');
    b.classList.remove('is-connected');
  }

  J.$('live').addEventListener('click', function () {
    if (live.on) {
      stopLive();
      setLiveStatus('Live updates are off.');
      return;
    }
    live.on = true;
    J.$('live').setAttribute('aria-checked', 'true');
    setLiveStatus('Connecting to the live feed…');
    startStream();
  });

  loaders.timeline = function () {
    return loadTimeline();
  };

  // Replay.
  function factorBadges(methods) {
    var box = el('span', 'badges');
    (methods || []).forEach(function (m) { box.appendChild(badge(methodWords[m] || m, 'badge-on')); });
    if (!box.childNodes.length) {
      box.appendChild(el('span', 'none', 'None'));
    }
    return box;
  }

  function lines(items) {
    if (!items || !items.length) {
      return null;
    }
    var ul = el('ul', 'cell-list');
    items.forEach(function (t) { ul.appendChild(el('li', '', t)); });
    return ul;
  }

  function userCell(u) {
    var box = el('span', 'user-cell');
    box.appendChild(el('strong', '', u.name));
    if (u.admin) {
      box.appendChild(badge('Admin', 'badge-accent'));
    }
    if (u.forgotten) {
      box.appendChild(badge('Forgotten', 'badge-warn'));
    }
    return box;
  }

  function renderReplay(s) {
    var at = new Date(s.at);
    // The instant in UTC too, unless the reader's clock is on UTC already.
    var utc = at.getTimezoneOffset() ? ' (' + at.toISOString().replace('.000Z', 'Z') + ')' : '';
    J.$('replay-summary').textContent = 'As it was at ' + shortTime(s.at) + utc + ': ' +
      s.events + (s.events === 1 ? ' event' : ' events') + (s.last_sequence ? ', up to #' + s.last_sequence : '') + '.';
    var list = s.users || [];
    fillBody('replay-users', list.map(function (u) {
      var tr = el('tr');
      tr.setAttribute('data-user', u.name);
      var factors = factorBadges(u.methods);
      if (u.methods && u.methods.indexOf('recovery') >= 0) {
        factors.appendChild(el('span', 'muted small', u.recovery_codes_left + ' codes left'));
      }
      tr.appendChild(cell('User', userCell(u)));
      tr.appendChild(cell('Factors', factors));
      tr.appendChild(cell('Sessions', lines((u.sessions || []).map(function (ss) {
        return [ss.client || 'Unknown app', reasons[ss.reason] || ss.reason, ss.ip].filter(Boolean).join(' · ');
      }))));
      tr.appendChild(cell('Browsers', u.trusted_browsers ? String(u.trusted_browsers) : null));
      tr.appendChild(cell('Devices', lines((u.paired_devices || []).concat(u.pending_pairings ? [u.pending_pairings + ' waiting for approval'] : []))));
      tr.appendChild(cell('App passwords', lines(u.app_passwords)));
      tr.appendChild(cell('Locked until', u.locked_until ? shortTime(u.locked_until) : null));
      return tr;
    }));
    J.$('replay-users-empty').hidden = list.length > 0;
    J.$('replay-bans-block').hidden = !!J.$('replay-user').value;
    var bans = s.bans || [];
    fillBody('replay-bans', bans.map(function (b) {
      var tr = el('tr');
      tr.appendChild(cell('Address', el('span', 'mono', b.ip)));
      tr.appendChild(cell('Until', shortTime(b.until)));
      tr.appendChild(cell('Reason', b.reason));
      return tr;
    }));
    J.$('replay-bans-empty').hidden = bans.length > 0;
    var keys = Object.keys(s.settings || {}).sort();
    J.$('replay-settings-block').hidden = keys.length === 0;
    fillBody('replay-settings', keys.map(function (k) {
      var tr = el('tr');
      tr.appendChild(cell('Setting', (settingsMeta[k] || {}).label || k));
      tr.appendChild(cell('Value', el('span', 'mono', s.settings[k])));
      return tr;
    }));
    J.$('replay-result').hidden = false;
    J.focus(J.$('replay-summary'));
  }

  J.$('replay-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var form = e.currentTarget;
    clearFieldError(form);
    var input = J.$('replay-at');
    var d = new Date(input.value);
    if (!input.value || isNaN(d.getTime())) {
      fieldError(form, 'Choose the date and time to replay to.', input);
      return;
    }
    var p = { at: d.toISOString().replace('.000Z', 'Z') };
    if (J.$('replay-user').value) {
      p.user = J.$('replay-user').value;
    }
    var undo = J.busy(form.querySelector('button[type="submit"]'));
    rpc('replay.at', p).then(function (a) {
      undo();
      if (a.error) {
        if (!a.denied) {
          fieldError(form, a.error.message, input);
        }
        return;
      }
      renderReplay(a.result);
    });
  });

  loaders.replay = function () {
    var input = J.$('replay-at');
    if (!input.value) {
      input.value = localInput(new Date());
    }
    return Promise.resolve();
  };

  // Users.
  var dialogOpener = null;

  function openDialog(id, first) {
    var d = J.$(id);
    dialogOpener = document.activeElement;
    clearFieldError(d.querySelector('form'));
    d.showModal();
    J.focus(first);
  }

  Array.prototype.forEach.call(document.querySelectorAll('dialog'), function (d) {
    d.addEventListener('close', function () {
      if (dialogOpener && document.body.contains(dialogOpener)) {
        dialogOpener.focus();
      }
    });
    d.querySelector('[data-close]').addEventListener('click', function () { d.close(); });
  });

  var target = null;

  // The reset dialog serves two actions: a reset (factors, trusted browsers and
  // lockout go, and the user is signed out everywhere) and signing a user out
  // everywhere alone (a lost phone, offboarding).
  var resetMode = 'reset';

  function confirmReset(u) {
    target = u;
    resetMode = 'reset';
    J.$('reset-title').textContent = 'Reset ' + u.name + '’s two-factor sign-in?';
    J.$('reset-text').textContent = 'This removes ' + u.name + '’s authenticator app, passkeys, email address, recovery codes and trusted browsers, ends a lockout ' +
      'and signs ' + u.name + ' out everywhere, so that ' + u.name + ' signs in with the password alone and can set up a new second step. Do it only when you are sure it is ' + u.name + ' who asks, e.g. after a lost phone.';
    J.$('reset-confirm').textContent = 'Reset ' + u.name;
    J.$('reset-reason').value = '';
    openDialog('reset-dialog', J.$('reset-reason'));
  }

  function confirmRevokeAll(u) {
    target = u;
    resetMode = 'revoke';
    J.$('reset-title').textContent = 'Sign ' + u.name + ' out everywhere?';
    J.$('reset-text').textContent = 'Every session, app password, approved device and trusted browser of ' + u.name + ' stops working at once and is signed out of Jellyfin. ' +
      u.name + '’s second steps stay: signing in again needs the password and the second step.';
    J.$('reset-confirm').textContent = 'Sign ' + u.name + ' out everywhere';
    J.$('reset-reason').value = '';
    openDialog('reset-dialog', J.$('reset-reason'));
  }

  J.$('reset-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var form = e.currentTarget;
    var u = target;
    var revoke = resetMode === 'revoke';
    var undo = J.busy(J.$('reset-confirm'));
    rpc(revoke ? 'users.revoke_all' : 'users.reset', { user: u.id, reason: J.$('reset-reason').value.trim() }).then(function (a) {
      undo();
      if (a.error) {
        if (!a.denied) {
          fieldError(form, a.error.message);
        }
        return;
      }
      J.$('reset-dialog').close();
      tell(revoke ? u.name + ' is signed out everywhere.' : u.name + '’s second steps, trusted browsers and lockout are removed, and ' + u.name + ' is signed out everywhere.');
      loadUsers();
    });
  });

  // Networks: where a user may sign in from (users.set_networks).
  function editNetworks(u) {
    target = u;
    J.$('networks-title').textContent = 'Where may ' + u.name + ' sign in from?';
    J.$('networks-text').textContent = 'A sign-in of ' + u.name + ' from any other network is refused, whatever the method (password, passkey, app password, Quick Connect), and recorded. ' +
      'Leave the list empty to allow anywhere.' + (u.admin ? ' As an administrator, ' + u.name + ' must also sign in from the administrators’ networks (security.admin_networks).' : '');
    J.$('networks-list').value = (u.networks || []).join(', ');
    openDialog('networks-dialog', J.$('networks-list'));
  }

  J.$('networks-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var form = e.currentTarget;
    var u = target;
    var list = J.$('networks-list').value.split(/[\s,]+/).filter(Boolean);
    var undo = J.busy(J.$('networks-confirm'));
    rpc('users.set_networks', { user: u.id, networks: list }).then(function (a) {
      undo();
      if (a.error) {
        if (!a.denied) {
          fieldError(form, a.error.message, J.$('networks-list'));
        }
        return;
      }
      J.$('networks-dialog').close();
      var kept = a.result.networks || [];
      tell(kept.length ? u.name + ' may sign in from ' + kept.join(', ') + ' only.' : u.name + ' may sign in from anywhere.');
      loadUsers();
    });
  });

  function confirmForget(u) {
    target = u;
    J.$('forget-title').textContent = 'Forget ' + u.name + '?';
    J.$('forget-text').textContent = 'jfguard destroys ' + u.name + '’s data key. Everything sealed with it becomes unreadable for good, in every copy of the log: ' +
      'the authenticator app’s secret, the email address and held sign-in tokens. ' + u.name + '’s second steps, trusted browsers and app passwords stop working. ' +
      'The audit facts stay: who signed in, when and from where.';
    J.$('forget-name-label').textContent = 'Type ' + u.name + ' to confirm';
    J.$('forget-confirm').textContent = 'Forget ' + u.name;
    J.$('forget-confirm').disabled = true;
    J.$('forget-reason').value = '';
    J.$('forget-name').value = '';
    openDialog('forget-dialog', J.$('forget-reason'));
  }

  J.$('forget-name').addEventListener('input', function (e) {
    J.$('forget-confirm').disabled = !target || e.currentTarget.value.trim() !== target.name;
  });

  J.$('forget-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var form = e.currentTarget;
    var u = target;
    if (J.$('forget-name').value.trim() !== u.name) {
      fieldError(form, 'Type ' + u.name + ' exactly, to confirm.', J.$('forget-name'));
      return;
    }
    var undo = J.busy(J.$('forget-confirm'));
    rpc('users.forget', { user: u.id, reason: J.$('forget-reason').value.trim() }).then(function (a) {
      undo();
      if (a.error) {
        if (!a.denied) {
          fieldError(form, a.error.message);
        }
        return;
      }
      J.$('forget-dialog').close();
      tell(u.name + ' is forgotten: their sealed data can no longer be read.');
      loadUsers();
    });
  });

  // count says how many of a thing there are, or nothing when there are none.
  function count(n, one, many) {
    return n ? n + ' ' + (n === 1 ? one : many) : '';
  }

  function loadUsers() {
    return refreshUsers().then(function (a) {
      if (a.error) {
        if (!a.denied) {
          error(a.error.message);
        }
        return;
      }
      fillBody('users', users.map(function (u) {
        var tr = el('tr');
        tr.setAttribute('data-user', u.name);
        var actions = el('span', 'cell-actions');
        actions.appendChild(J.button('Devices', 'button-secondary', function () {
          J.$('devices-user').value = u.id;
          select('devices', true);
        }));
        actions.appendChild(J.button('Networks', 'button-secondary', function () { editNetworks(u); }));
        actions.appendChild(J.button('Sign out everywhere', 'button-secondary', function () { confirmRevokeAll(u); }));
        actions.appendChild(J.button('Reset', 'button-secondary', function () { confirmReset(u); }));
        if (!u.forgotten) {
          actions.appendChild(J.button('Forget', 'button-danger-outline', function () { confirmForget(u); }));
        }
        tr.appendChild(cell('User', userCell(u)));
        tr.appendChild(cell('Two-factor', factorBadges(u.methods)));
        tr.appendChild(cell('Access', lines([
          count(u.sessions, 'session', 'sessions'),
          count(u.trusted_browsers, 'trusted browser', 'trusted browsers'),
          count(u.devices, 'paired device', 'paired devices'),
          count(u.app_passwords, 'app password', 'app passwords')
        ].filter(Boolean))));
        tr.appendChild(cell('Lockout', u.locked_until ? badge('Locked until ' + shortTime(u.locked_until), 'badge-bad') : null));
        tr.appendChild(cell('Networks', u.networks && u.networks.length ? lines(u.networks) : el('span', 'muted', 'Anywhere')));
        tr.appendChild(cell('Actions', actions));
        return tr;
      }));
      J.$('users-empty').hidden = users.length > 0;
    });
  }

  loaders.users = loadUsers;

  // act is a row's button that calls one control API method, says what happened
  // and shows the user's devices again.
  function act(label, cls, method, params, done) {
    return J.button(label, cls, function (b) {
      clearMessages();
      var undo = J.busy(b);
      rpc(method, params).then(function (r) {
        undo();
        if (r.error) {
          if (!r.denied) {
            error(r.error.message);
          }
          return;
        }
        tell(done);
        loadDevices();
      });
    });
  }

  // Devices and pairings of one user.
  function loadDevices() {
    var uid = J.$('devices-user').value;
    if (!uid) {
      ['devices-paired', 'devices-pairings', 'devices-sessions', 'devices-browsers', 'devices-apppasswords', 'devices-held'].forEach(function (id) { J.fill(id, []); });
      return Promise.resolve();
    }
    return rpcBatch([['users.get', { user: uid }], ['challenges.list']]).then(function (answers) {
      var a = answers[0];
      if (a.error) {
        if (!a.denied) {
          error(a.error.message);
        }
        return;
      }
      var v = a.result;
      var held = (answers[1].result || []).filter(function (h) { return h.user_id === uid; });
      var name = v.user.name;
      J.fill('devices-paired', v.devices.map(function (p) {
        return J.row('device', p.device_name || 'Unnamed device', [p.client + (p.version ? ' ' + p.version : ''), p.ip,
          p.last_used ? 'last used ' + J.ago(p.last_used) : 'paired ' + J.ago(p.requested_at)], '', [
          J.button('Revoke', 'button-secondary', function (b) {
            clearMessages();
            var undo = J.busy(b);
            rpc('devices.revoke', { user: uid, pairing: p.id }).then(function (r) {
              undo();
              if (r.error) {
                if (!r.denied) {
                  error(r.error.message);
                }
                return;
              }
              tell((p.device_name || 'The device') + ' is revoked and signed out: it needs ' + name + '’s approval to sign in again.');
              loadDevices();
            });
          })
        ]);
      }));
      J.fill('devices-pairings', v.pairings.map(function (p) {
        var device = p.device_name || 'The device';
        return J.row('device', p.device_name || 'Unnamed device', [p.client + (p.version ? ' ' + p.version : ''), p.ip, 'asked ' + J.ago(p.requested_at)],
          p.status === 'approved' ? 'Approved' : 'Waiting', p.status === 'approved' ? [] : [
            act('Approve', 'button-secondary', 'pairings.answer', { user: uid, pairing: p.id, approve: true }, device + ' is approved for ' + name + ': it can sign in now.'),
            act('Deny', 'button-secondary', 'pairings.answer', { user: uid, pairing: p.id, approve: false }, device + ' is denied.')
          ]);
      }));
      J.fill('devices-sessions', v.sessions.map(function (s) {
        var app = [s.client, s.device].filter(Boolean).join(' · ') || 'Unknown app';
        return J.row('session', app, [reasons[s.reason] || s.reason, J.ago(s.verified_at), s.ip], '', [
          act('Sign out', 'button-secondary', 'sessions.revoke', { user: uid, session: s.id }, app + ' is signed out.')
        ]);
      }));
      J.fill('devices-held', held.map(function (h) {
        var app = [h.device.client, h.device.name].filter(Boolean).join(' · ') || 'Unknown app';
        return J.row('session', app, [h.ip, 'since ' + J.ago(h.issued_at)], '', [
          act('End', 'button-secondary', 'challenges.end', { challenge: h.id }, 'The sign-in from ' + app + ' is ended.')
        ]);
      }));
      J.fill('devices-browsers', v.trusted_browsers.map(function (b) {
        return J.row('browser', b.name, ['last used ' + J.ago(b.last_used), b.ip, 'trusted until ' + J.longDate(b.expires_at)], '', []);
      }));
      J.fill('devices-apppasswords', v.app_passwords.map(function (p) {
        return J.row('app', p.label, ['created ' + J.longDate(p.created_at), p.last_used ? 'last used ' + J.ago(p.last_used) + (p.last_ip ? ' from ' + p.last_ip : '') : 'not used yet'], '', [
          act('Revoke', 'button-secondary', 'app_passwords.revoke', { user: uid, id: p.id }, 'The app password “' + p.label + '” is revoked.')
        ]);
      }));
    });
  }

  J.$('devices-user').addEventListener('change', function () {
    clearMessages();
    loadDevices();
  });
  J.$('devices-form').addEventListener('submit', function (e) { e.preventDefault(); });

  loaders.devices = function () {
    var sel = J.$('devices-user');
    if (!sel.value) {
      var withDevices = users.filter(function (u) { return u.devices > 0; })[0] || users[0];
      if (withDevices) {
        sel.value = withDevices.id;
      }
    }
    return loadDevices();
  };

  // Bans.
  function loadBans() {
    return rpc('bans.list').then(function (a) {
      if (a.error) {
        if (!a.denied) {
          error(a.error.message);
        }
        return;
      }
      var bans = a.result || [];
      fillBody('bans', bans.map(function (b) {
        var tr = el('tr');
        tr.setAttribute('data-ip', b.ip);
        tr.appendChild(cell('Address', el('span', 'mono', b.ip)));
        tr.appendChild(cell('Until', timeEl(b.until)));
        tr.appendChild(cell('Reason', b.reason));
        tr.appendChild(cell('Actions', J.button('Lift the ban', 'button-secondary', function (btn) {
          clearMessages();
          var undo = J.busy(btn);
          rpc('bans.remove', { ip: b.ip, reason: 'lifted on the admin page' }).then(function (r) {
            undo();
            if (r.error) {
              if (!r.denied) {
                error(r.error.message);
              }
              return;
            }
            tell((r.result.prefix || b.ip) + ' is no longer banned.');
            loadBans();
          });
        })));
        return tr;
      }));
      J.$('bans-empty').hidden = bans.length > 0;
    });
  }

  J.$('ban-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var form = e.currentTarget;
    clearFieldError(form);
    clearMessages();
    var ip = J.$('ban-ip').value.trim();
    if (!ip) {
      fieldError(form, 'Enter the address to ban, e.g. 203.0.113.7.', J.$('ban-ip'));
      return;
    }
    var undo = J.busy(form.querySelector('button[type="submit"]'));
    rpc('bans.add', { ip: ip, duration: J.$('ban-duration').value, reason: J.$('ban-reason').value.trim() }).then(function (a) {
      undo();
      if (a.error) {
        if (!a.denied) {
          fieldError(form, ipProblem(a.error.message) || a.error.message, J.$('ban-ip'));
        }
        return;
      }
      J.$('ban-ip').value = '';
      J.$('ban-reason').value = '';
      tell((a.result.prefix || a.result.ip) + ' is banned for ' + J.$('ban-duration').selectedOptions[0].textContent + '.');
      loadBans();
    });
  });

  loaders.bans = loadBans;

  // Settings: one form of every policy key; each changed key is one settings.set,
  // all in one batch, and a refused value is explained under its field.
  var settings = {};

  function settingInput(key, value) {
    var meta = settingsMeta[key] || { kind: 'text' };
    var id = 'setting-' + key.replace(/[^a-z0-9]+/g, '-');
    var input = el('input', meta.kind === 'bool' ? 'toggle' : 'input');
    input.id = id;
    input.name = key;
    if (meta.kind === 'bool') {
      input.type = 'checkbox';
      input.checked = value === 'true';
    } else {
      input.type = 'text';
      input.value = value;
      input.autocomplete = 'off';
      input.spellcheck = false;
      if (meta.kind === 'int') {
        input.inputMode = 'numeric';
      }
    }
    return input;
  }

  function settingValue(input) {
    return input.type === 'checkbox' ? String(input.checked) : input.value.trim();
  }

  // shownValue writes a value the way a person types it: a duration without its
  // zero units (1h, not 1h0m0s), a list with a space after each comma.
  function shownValue(key, v) {
    switch ((settingsMeta[key] || {}).kind) {
      case 'duration':
        return v.replace(/([hm])0s$/, '$1').replace(/h0m$/, 'h');
      case 'list':
        return v.split(',').map(function (x) { return x.trim(); }).filter(Boolean).join(', ');
    }
    return v;
  }

  // settingWords is a saved value in a sentence: "on", "14 days", "1h".
  function settingWords(key, v) {
    var meta = settingsMeta[key] || {};
    if (meta.kind === 'bool') {
      return v === 'true' ? 'on' : 'off';
    }
    return meta.unit ? v + ' ' + meta.unit : v;
  }

  function renderSettings() {
    var byGroup = {};
    var known = Object.keys(settingsMeta).filter(function (k) { return k in settings; });
    var other = Object.keys(settings).filter(function (k) { return !settingsMeta[k]; }).sort();
    known.concat(other).forEach(function (k) {
      var g = (settingsMeta[k] || {}).group || 'Other';
      (byGroup[g] = byGroup[g] || []).push(k);
    });
    var box = J.$('settings-groups');
    box.replaceChildren.apply(box, settingGroups.filter(function (g) { return byGroup[g]; }).map(function (g) {
      var fs = el('fieldset', 'setting-group');
      fs.appendChild(el('legend', '', g));
      byGroup[g].forEach(function (k) {
        var meta = settingsMeta[k] || { label: k, kind: 'text', help: '' };
        var input = settingInput(k, settings[k]);
        var wrap = el('div', 'setting setting-' + meta.kind);
        wrap.setAttribute('data-key', k);
        var text = el('div', 'setting-text');
        var label = el('label', 'label', meta.label);
        label.htmlFor = input.id;
        text.appendChild(label);
        var help = el('p', 'hint', meta.help);
        help.id = input.id + '-help';
        text.appendChild(help);
        text.appendChild(el('code', 'setting-key', k));
        var control = el('div', 'setting-control');
        control.appendChild(input);
        if (meta.unit) {
          control.appendChild(el('span', 'unit', meta.unit));
        }
        var err = el('p', 'field-error');
        err.id = input.id + '-error';
        err.hidden = true;
        err.setAttribute('role', 'alert');
        input.setAttribute('aria-describedby', help.id + ' ' + err.id);
        input.addEventListener(meta.kind === 'bool' ? 'change' : 'input', function () {
          wrap.classList.toggle('is-changed', settingValue(input) !== settings[k]);
        });
        wrap.appendChild(text);
        wrap.appendChild(control);
        wrap.appendChild(err);
        fs.appendChild(wrap);
      });
      return fs;
    }));
  }

  function loadSettings() {
    return rpc('settings.get').then(function (a) {
      if (a.error) {
        if (!a.denied) {
          error(a.error.message);
        }
        return;
      }
      settings = {};
      Object.keys(a.result || {}).forEach(function (k) { settings[k] = shownValue(k, a.result[k]); });
      renderSettings();
    });
  }

  function settingError(key, text) {
    var wrap = document.querySelector('.setting[data-key="' + key + '"]');
    var input = wrap.querySelector('input');
    var p = wrap.querySelector('.field-error');
    p.textContent = text;
    p.hidden = !text;
    if (text) {
      input.setAttribute('aria-invalid', 'true');
    } else {
      input.removeAttribute('aria-invalid');
    }
  }

  J.$('settings-form').addEventListener('submit', function (e) {
    e.preventDefault();
    clearMessages();
    var changed = [];
    Array.prototype.forEach.call(document.querySelectorAll('#settings-groups .setting'), function (wrap) {
      var key = wrap.getAttribute('data-key');
      settingError(key, '');
      var v = settingValue(wrap.querySelector('input'));
      if (v !== settings[key]) {
        changed.push([key, v]);
      }
    });
    if (!changed.length) {
      tell('Nothing to save: no setting was changed.');
      return;
    }
    var undo = J.busy(e.currentTarget.querySelector('button[type="submit"]'));
    rpcBatch(changed.map(function (c) { return ['settings.set', { key: c[0], value: c[1] }]; })).then(function (answers) {
      undo();
      if (answers[0] && answers[0].denied) {
        return;
      }
      var saved = [];
      var firstBad = null;
      answers.forEach(function (a, i) {
        var key = changed[i][0];
        if (a.error) {
          // The server names the key first; beside its field, that is said already.
          settingError(key, a.error.message.replace(key + ': ', ''));
          firstBad = firstBad || key;
          return;
        }
        settings[key] = shownValue(key, a.result.value);
        saved.push((settingsMeta[key] || { label: key }).label + ': ' + settingWords(key, settings[key]));
      });
      if (saved.length) {
        tell('Saved. ' + saved.join('; ') + '.');
      }
      Array.prototype.forEach.call(document.querySelectorAll('#settings-groups .setting'), function (wrap) {
        var key = wrap.getAttribute('data-key');
        var input = wrap.querySelector('input');
        if (settings[key] === settingValue(input)) {
          wrap.classList.remove('is-changed');
        }
      });
      if (firstBad) {
        var bad = document.querySelector('.setting[data-key="' + firstBad + '"] input');
        bad.select();
        J.focus(bad);
      }
    });
  });

  J.$('settings-undo').addEventListener('click', function () {
    clearMessages();
    renderSettings();
  });

  loaders.settings = loadSettings;

  // Alerts.
  function loadAlerts() {
    return rpc('notify.status').then(function (a) {
      if (a.error) {
        if (!a.denied) {
          error(a.error.message);
        }
        return;
      }
      var st = a.result;
      J.fill('sinks', (st.sinks || []).map(function (name) {
        return J.row('bell', name, [], '', [J.button('Send a test alert', 'button-secondary', function (b) {
          clearMessages();
          var undo = J.busy(b);
          rpc('notify.test', { sink: name }).then(function (r) {
            undo();
            if (r.error) {
              if (!r.denied) {
                error('The test alert to ' + name + ' failed: ' + r.error.message);
              }
              return;
            }
            tell('A test alert went to ' + name + '.');
          });
        })]);
      }));
      var failures = st.failures || [];
      fillBody('failures', failures.map(function (f) {
        var tr = el('tr');
        tr.appendChild(cell('Time', timeEl(f.time)));
        tr.appendChild(cell('Destination', f.sink));
        tr.appendChild(cell('Event', typeInfo(f.event_type || '').label));
        tr.appendChild(cell('Attempts', String(f.attempts)));
        tr.appendChild(cell('Error', f.error));
        return tr;
      }));
      J.$('failures-empty').hidden = failures.length > 0;
    });
  }

  J.$('test-email').addEventListener('submit', function (e) {
    e.preventDefault();
    var form = e.currentTarget;
    clearFieldError(form);
    clearMessages();
    var to = J.$('test-email-to').value.trim();
    var undo = J.busy(form.querySelector('button[type="submit"]'));
    rpc('notify.test_email', to ? { to: to } : {}).then(function (a) {
      undo();
      if (a.error) {
        if (!a.denied) {
          fieldError(form, a.error.message, J.$('test-email-to'));
        }
        return;
      }
      tell('A test email was sent to ' + (to || 'the administrators') + '.');
    });
  });

  loaders.alerts = loadAlerts;

  // The audit log's integrity.
  function renderVerify(res) {
    var box = J.$('verify');
    var rep = res.report || {};
    box.classList.toggle('is-on', res.ok);
    box.classList.toggle('is-off', !res.ok);
    box.hidden = false;
    J.$('verify-title').textContent = res.ok ? 'The audit log is intact' : 'The audit log was altered';
    var detail = rep.events + (rep.events === 1 ? ' event' : ' events') + ' checked against ' + rep.checkpoints +
      (rep.checkpoints === 1 ? ' signed checkpoint' : ' signed checkpoints') + (rep.sealed_through ? ', sealed through #' + rep.sealed_through : '') + '.';
    if (rep.unsealed) {
      detail += ' ' + rep.unsealed + (rep.unsealed === 1 ? ' newer event is' : ' newer events are') + ' not in a checkpoint yet.';
    }
    if (!res.ok && rep.first_bad) {
      detail = 'The first changed, removed or reordered event is #' + rep.first_bad + '. ' + detail;
    }
    J.$('verify-detail').textContent = detail;
    J.fill('verify-problems', (rep.problems || []).map(function (p) { return el('li', '', p); }));
    J.focus(J.$('verify-title'));
  }

  J.$('verify-run').addEventListener('click', function (e) {
    clearMessages();
    var undo = J.busy(e.currentTarget);
    rpc('audit.verify').then(function (a) {
      undo();
      if (a.error) {
        if (!a.denied) {
          error(a.error.message);
        }
        return;
      }
      renderVerify(a.result);
    });
  });

  J.$('checkpoint-run').addEventListener('click', function (e) {
    clearMessages();
    var undo = J.busy(e.currentTarget);
    rpc('audit.checkpoint').then(function (a) {
      undo();
      if (a.error) {
        if (!a.denied) {
          error(a.error.message);
        }
        return;
      }
      tell('A checkpoint was written: every event so far is sealed.');
    });
  });

  J.$('public-key-copy').addEventListener('click', function (e) {
    J.copy(J.$('public-key').textContent, e.currentTarget).then(function (done) {
      if (!done) {
        error('Copying was blocked. Select the key and copy it yourself.');
      }
    });
  });

  loaders.audit = function () {
    return rpc('audit.public_key').then(function (a) {
      var has = !a.error;
      J.$('public-key').textContent = has ? a.result.public_key : 'This node does not write checkpoints.';
      J.$('public-key-copy').hidden = !has;
    });
  };

  function serverStatus(st) {
    J.$('server-status').textContent = ' · jfguard ' + st.version + ' · ' + st.last_sequence + (st.last_sequence === 1 ? ' event' : ' events');
    // Events written around jfguard (no valid MAC) were refused: say so on every view.
    var forged = st.forged_events || 0;
    var box = J.$('integrity');
    box.hidden = forged === 0;
    box.textContent = forged === 0 ? '' : (forged === 1 ? 'One event was' : forged + ' events were') +
      ' written to the event stream by something other than jfguard and ignored (see “Forged event refused” in the timeline). ' +
      'Check who can write to the NATS server and rotate its credentials.';
  }

  // Start: the web app's session, then whether it is an administrator's.
  function start() {
    return rpcBatch([['system.status'], ['users.list']]).then(function (a) {
      if (a[0].denied) {
        return null;
      }
      if (a[0].error || a[1].error) {
        show('ready');
        error((a[0].error || a[1].error).message);
        return null;
      }
      var st = a[0].result;
      setUsers(a[1].result);
      J.$('admin-name').textContent = userNames[selfId] || 'an administrator';
      serverStatus(st);
      return J.request('GET', '/jfguard/api/admin/event-types', undefined, { Authorization: J.authorization('jfguard', token) });
    }).then(function (res) {
      if (!res) {
        return;
      }
      var groups = { user: 'Users', ip: 'Addresses', system: 'System' };
      var sel = J.$('filter-type');
      var byGroup = {};
      ((res.ok && res.body.types) || []).forEach(function (t) {
        types[t.type] = t;
        (byGroup[t.aggregate] = byGroup[t.aggregate] || []).push(t);
      });
      Object.keys(groups).forEach(function (g) {
        if (!byGroup[g]) {
          return;
        }
        var og = el('optgroup');
        og.label = groups[g];
        byGroup[g].sort(function (x, y) { return x.label.localeCompare(y.label); }).forEach(function (t) {
          var o = el('option', '', t.label);
          o.value = t.type;
          o.title = t.summary;
          og.appendChild(o);
        });
        sel.appendChild(og);
      });
      show('ready');
      return select(location.hash.slice(1));
    });
  }

  J.session().then(function (s) {
    if (!s) {
      show('signed-out');
      return;
    }
    token = s.AccessToken;
    selfId = s.UserId || '';
    start();
  });
}());
