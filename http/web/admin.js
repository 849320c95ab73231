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

  // The label of the actions column is the stylesheet's hook; people never see it.
  var ACTIONS = 'Actions'; // i18n: not text

  var methodWords = {
    totp: J.t('js.admin.method_totp'),
    passkey: J.t('js.admin.method_passkey'),
    email: J.t('js.admin.method_email'),
    recovery: J.t('js.admin.method_recovery')
  };

  // Why a session was let in, in the words of the setup page.
  var reasons = {
    no_2fa: J.t('js.admin.reason_no_2fa'),
    jfguard_disabled: J.t('js.admin.reason_jfguard_disabled'),
    lan: J.t('js.admin.reason_lan'),
    trusted_browser: J.t('js.admin.reason_trusted_browser'),
    challenge: J.t('js.admin.reason_challenge'),
    pairing: J.t('js.admin.reason_pairing'),
    app_password: J.t('js.admin.reason_app_password'),
    passkey_sign_in: J.t('js.admin.reason_passkey_sign_in'),
    quick_connect: J.t('js.admin.reason_quick_connect'),
    adopted: J.t('js.admin.reason_adopted')
  };

  // The policy keys in words, grouped as an admin thinks of them. A key the page
  // does not know yet still shows, under its own name, as plain text. A setting with
  // a unit has count, which says a saved value with its unit in the plural form the
  // number needs.
  var settingGroups = ['second_step', 'home', 'passwords', 'lockouts', 'other'];
  var groupNames = {
    second_step: J.t('js.admin.group_second_step'),
    home: J.t('js.admin.group_home'),
    passwords: J.t('js.admin.group_passwords'),
    lockouts: J.t('js.admin.group_lockouts'),
    other: J.t('js.admin.group_other')
  };
  var settingsMeta = {
    'security.enabled': { group: 'second_step', label: J.t('js.admin.setting_enabled'), kind: 'bool', help: J.t('js.admin.setting_enabled_help') },
    'security.require_all': { group: 'second_step', label: J.t('js.admin.setting_require_all'), kind: 'bool', help: J.t('js.admin.setting_require_all_help') },
    'security.trust_cookie_days': { group: 'second_step', label: J.t('js.admin.setting_trust_cookie_days'), kind: 'int', unit: J.t('js.admin.unit_days'),
      count: function (n) { return J.tn('js.admin.count_days', n); }, help: J.t('js.admin.setting_trust_cookie_days_help') },
    'security.lan_bypass': { group: 'home', label: J.t('js.admin.setting_lan_bypass'), kind: 'bool', help: J.t('js.admin.setting_lan_bypass_help') },
    'security.lan_cidrs': { group: 'home', label: J.t('js.admin.setting_lan_cidrs'), kind: 'list', help: J.t('js.admin.setting_lan_cidrs_help') },
    'security.loopback_bypass': { group: 'home', label: J.t('js.admin.setting_loopback_bypass'), kind: 'bool', help: J.t('js.admin.setting_loopback_bypass_help') },
    'security.lockout_threshold': { group: 'lockouts', label: J.t('js.admin.setting_lockout_threshold'), kind: 'int', help: J.t('js.admin.setting_lockout_threshold_help') },
    'security.lockout_duration': { group: 'lockouts', label: J.t('js.admin.setting_lockout_duration'), kind: 'duration', help: J.t('js.admin.setting_lockout_duration_help') },
    'security.challenge_max_failures': { group: 'lockouts', label: J.t('js.admin.setting_challenge_max_failures'), kind: 'int', help: J.t('js.admin.setting_challenge_max_failures_help') },
    'security.ban_threshold': { group: 'lockouts', label: J.t('js.admin.setting_ban_threshold'), kind: 'int', help: J.t('js.admin.setting_ban_threshold_help') },
    'security.ban_duration': { group: 'lockouts', label: J.t('js.admin.setting_ban_duration'), kind: 'duration', help: J.t('js.admin.setting_ban_duration_help') },
    'security.password_failures_per_ip_per_minute': { group: 'passwords', label: J.t('js.admin.setting_password_failures_per_ip_per_minute'), kind: 'int',
      help: J.t('js.admin.setting_password_failures_per_ip_per_minute_help') },
    'security.password_hold_after': { group: 'passwords', label: J.t('js.admin.setting_password_hold_after'), kind: 'int', help: J.t('js.admin.setting_password_hold_after_help') },
    'security.password_hold_window': { group: 'passwords', label: J.t('js.admin.setting_password_hold_window'), kind: 'duration', help: J.t('js.admin.setting_password_hold_window_help') },
    'security.password_hold_duration': { group: 'passwords', label: J.t('js.admin.setting_password_hold_duration'), kind: 'duration', help: J.t('js.admin.setting_password_hold_duration_help') },
    'security.jellyfin_lockout_attempts': { group: 'passwords', label: J.t('js.admin.setting_jellyfin_lockout_attempts'), kind: 'int', unit: J.t('js.admin.unit_wrong_passwords'),
      count: function (n) { return J.tn('js.admin.count_wrong_passwords', n); }, help: J.t('js.admin.setting_jellyfin_lockout_attempts_help') }
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
    t.appendChild(el('span', 'time-clock', d.toLocaleTimeString(J.lang, { hour: '2-digit', minute: '2-digit', second: '2-digit' })));
    t.appendChild(el('span', 'time-date', d.toLocaleDateString(J.lang, { year: 'numeric', month: 'short', day: 'numeric' })));
    return t;
  }

  function shortTime(iso) {
    var d = new Date(iso);
    return isNaN(d.getTime()) ? String(iso) : d.toLocaleString(J.lang, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
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
    return /prefix/.test(message) ? message.replace(/^ip /, '') : J.t('js.admin.ip_problem');
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
          fieldError(form, J.message(res, J.t('js.admin.stepup_failed')), input);
        });
      };
      onClose = function () { finish(false); };
      onSubmit = function (e) {
        e.preventDefault();
        clearFieldError(form);
        var raw = input.value.trim();
        var code = /^[0-9\s-]+$/.test(raw) ? J.digits(raw) : raw;
        if (!code) {
          fieldError(form, J.t('js.admin.enter_code'), input);
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
        return failed(J.t('js.admin.admins_only'), true);
      }
      if (!res.ok || !Array.isArray(res.body)) {
        return failed(J.message(res, J.t('js.admin.no_answer')), false);
      }
      var byId = {};
      res.body.forEach(function (r) { byId[r.id] = r; });
      return body.map(function (b) { return byId[b.id] || { error: { message: J.t('js.admin.no_answer_call') } }; });
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
        J.$('refused-text').textContent = J.t('js.admin.refused_as', { Name: res.body.user.name });
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
        case 'Home': // i18n: not text
          next = tabs[0];
          break;
        case 'End': // i18n: not text
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
        var o = el('option', '', u.admin ? J.t('js.admin.user_option_admin', { Name: u.name }) : u.name);
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

  // eventLabel is the timeline's word for an event type: the message
  // js.admin.event.<type>, or the type itself for one the catalog lacks (a newer
  // server than this page's words).
  function eventLabel(type) {
    var id = 'js.admin.event.' + type; // i18n: not text
    var label = J.t(id);
    return label === id ? type.replace(/_/g, ' ') : label;
  }

  function typeInfo(type) {
    return types[type] || { type: type, label: eventLabel(type), tone: '', summary: '', hidden: [] };
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
        v = v ? J.t('js.admin.yes') : J.t('js.admin.no');
      } else if (v === null || v === '' || typeof v === 'object') {
        return;
      } else if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(v)) {
        v = shortTime(v);
      }
      out.push([k.replace(/_/g, ' '), String(v)]);
    });
    if (ev.actor && ev.actor !== ev.aggregate_id) {
      out.push([J.t('js.admin.detail_by'), nameOf(ev.actor)]);
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
      who = filterButton(nameOf(uid), J.t('js.admin.only_user', { Name: nameOf(uid) }), function () {
        J.$('filter-user').value = uid;
      });
    } else if (ev.data && ev.data.username) {
      who = el('span', 'typed', ev.data.username);
      who.title = J.t('js.admin.typed_name');
    }

    // Where from: the address, then the app and device that sent the request.
    var from = el('span', 'from');
    var ip = ev.ip || ev.address || '';
    if (ip) {
      var where = filterButton(ip, J.t('js.admin.only_address', { Address: ip }), function () { J.$('filter-ip').value = ip; });
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

    tr.appendChild(cell(J.t('js.admin.col_time'), timeEl(ev.time)));
    tr.appendChild(cell(J.t('js.admin.col_event'), kind));
    tr.appendChild(cell(J.t('js.admin.col_user'), who));
    tr.appendChild(cell(J.t('js.admin.col_from'), from.childNodes.length ? from : null));
    tr.appendChild(cell(J.t('js.admin.col_details'), kv));
    return tr;
  }

  function readFilters() {
    filter = { user: J.$('filter-user').value, ip: J.$('filter-ip').value.trim(), type: J.$('filter-type').value };
  }

  function timelineCount(n) {
    var words = n === 0 ? '' : n >= TIMELINE_LIMIT ? J.tn('js.admin.newest_events', n) : J.tn('js.admin.event_count', n);
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
        var msg = a[1].error.message || J.t('js.admin.events_failed');
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
        throw new Error('the feed answered ' + r.status); // i18n: not text
      }
      J.$('live').classList.add('is-connected');
      setLiveStatus(J.t('js.admin.live_on'));
      var reader = r.body.getReader();
      var decoder = new TextDecoder();
      var buf = '';
      var pump = function () {
        return reader.read().then(function (chunk) {
          if (chunk.done) {
            throw new Error('the feed ended'); // i18n: not text
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
      setLiveStatus(J.t('js.admin.live_interrupted'));
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
      setLiveStatus(J.t('js.admin.live_off'));
      return;
    }
    live.on = true;
    J.$('live').setAttribute('aria-checked', 'true');
    setLiveStatus(J.t('js.admin.live_connecting'));
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
      box.appendChild(el('span', 'none', J.t('js.admin.none')));
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
      box.appendChild(badge(J.t('js.admin.badge_admin'), 'badge-accent'));
    }
    if (u.forgotten) {
      box.appendChild(badge(J.t('js.admin.badge_forgotten'), 'badge-warn'));
    }
    return box;
  }

  function renderReplay(s) {
    var at = new Date(s.at);
    // The instant in UTC too, unless the reader's clock is on UTC already.
    var utc = at.getTimezoneOffset() ? ' (' + at.toISOString().replace('.000Z', 'Z') + ')' : '';
    var when = shortTime(s.at) + utc;
    J.$('replay-summary').textContent = s.last_sequence ?
      J.tn('js.admin.replay_summary_up_to', s.events, { Time: when, Sequence: s.last_sequence }) :
      J.tn('js.admin.replay_summary', s.events, { Time: when });
    var list = s.users || [];
    fillBody('replay-users', list.map(function (u) {
      var tr = el('tr');
      tr.setAttribute('data-user', u.name);
      var factors = factorBadges(u.methods);
      if (u.methods && u.methods.indexOf('recovery') >= 0) {
        var left = J.tn('js.admin.codes_left', u.recovery_codes_left);
        factors.appendChild(el('span', 'muted small', left)); // i18n: not text
      }
      tr.appendChild(cell(J.t('js.admin.col_user'), userCell(u)));
      tr.appendChild(cell(J.t('js.admin.col_factors'), factors));
      tr.appendChild(cell(J.t('js.admin.col_sessions'), lines((u.sessions || []).map(function (ss) {
        return [ss.client || J.t('js.admin.unknown_app'), reasons[ss.reason] || ss.reason, ss.ip].filter(Boolean).join(' · ');
      }))));
      tr.appendChild(cell(J.t('js.admin.col_browsers'), u.trusted_browsers ? String(u.trusted_browsers) : null));
      tr.appendChild(cell(J.t('js.admin.col_devices'), lines((u.paired_devices || []).concat(u.pending_pairings ? [J.tn('js.admin.pending_pairings', u.pending_pairings)] : []))));
      tr.appendChild(cell(J.t('js.admin.col_app_passwords'), lines(u.app_passwords)));
      tr.appendChild(cell(J.t('js.admin.col_locked_until'), u.locked_until ? shortTime(u.locked_until) : null));
      return tr;
    }));
    J.$('replay-users-empty').hidden = list.length > 0;
    J.$('replay-bans-block').hidden = !!J.$('replay-user').value;
    var bans = s.bans || [];
    fillBody('replay-bans', bans.map(function (b) {
      var tr = el('tr');
      tr.appendChild(cell(J.t('js.admin.col_address'), el('span', 'mono', b.ip)));
      tr.appendChild(cell(J.t('js.admin.col_until'), shortTime(b.until)));
      tr.appendChild(cell(J.t('js.admin.col_reason'), b.reason));
      return tr;
    }));
    J.$('replay-bans-empty').hidden = bans.length > 0;
    var keys = Object.keys(s.settings || {}).sort();
    J.$('replay-settings-block').hidden = keys.length === 0;
    fillBody('replay-settings', keys.map(function (k) {
      var tr = el('tr');
      tr.appendChild(cell(J.t('js.admin.col_setting'), (settingsMeta[k] || {}).label || k));
      tr.appendChild(cell(J.t('js.admin.col_value'), el('span', 'mono', s.settings[k])));
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
      fieldError(form, J.t('js.admin.replay_choose'), input);
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
    J.$('reset-title').textContent = J.t('js.admin.reset_title', { Name: u.name });
    J.$('reset-text').textContent = J.t('js.admin.reset_text', { Name: u.name });
    J.$('reset-confirm').textContent = J.t('js.admin.reset_confirm', { Name: u.name });
    J.$('reset-reason').value = '';
    openDialog('reset-dialog', J.$('reset-reason'));
  }

  function confirmRevokeAll(u) {
    target = u;
    resetMode = 'revoke';
    J.$('reset-title').textContent = J.t('js.admin.revoke_title', { Name: u.name });
    J.$('reset-text').textContent = J.t('js.admin.revoke_text', { Name: u.name });
    J.$('reset-confirm').textContent = J.t('js.admin.revoke_confirm', { Name: u.name });
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
      tell(revoke ? J.t('js.admin.revoked_all', { Name: u.name }) : J.t('js.admin.reset_done', { Name: u.name }));
      loadUsers();
    });
  });

  // Networks: where a user may sign in from (users.set_networks).
  function editNetworks(u) {
    target = u;
    J.$('networks-title').textContent = J.t('js.admin.networks_title', { Name: u.name });
    J.$('networks-text').textContent = u.admin ? J.t('js.admin.networks_text_admin', { Name: u.name }) : J.t('js.admin.networks_text', { Name: u.name });
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
      tell(kept.length ? J.t('js.admin.networks_set', { Name: u.name, Networks: kept.join(', ') }) : J.t('js.admin.networks_anywhere', { Name: u.name }));
      loadUsers();
    });
  });

  function confirmForget(u) {
    target = u;
    J.$('forget-title').textContent = J.t('js.admin.forget_title', { Name: u.name });
    J.$('forget-text').textContent = J.t('js.admin.forget_text', { Name: u.name });
    J.$('forget-name-label').textContent = J.t('js.admin.forget_name_label', { Name: u.name });
    J.$('forget-confirm').textContent = J.t('js.admin.forget_confirm', { Name: u.name });
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
      fieldError(form, J.t('js.admin.forget_name_mismatch', { Name: u.name }), J.$('forget-name'));
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
      tell(J.t('js.admin.forgotten', { Name: u.name }));
      loadUsers();
    });
  });

  // count says how many of a thing there are (words made by J.tn), or nothing when
  // there are none.
  function count(n, words) {
    return n ? words(n) : '';
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
        actions.appendChild(J.button(J.t('js.admin.button_devices'), 'button-secondary', function () {
          J.$('devices-user').value = u.id;
          select('devices', true);
        }));
        actions.appendChild(J.button(J.t('js.admin.button_networks'), 'button-secondary', function () { editNetworks(u); }));
        actions.appendChild(J.button(J.t('js.admin.button_sign_out_everywhere'), 'button-secondary', function () { confirmRevokeAll(u); }));
        actions.appendChild(J.button(J.t('js.admin.button_reset'), 'button-secondary', function () { confirmReset(u); }));
        if (!u.forgotten) {
          actions.appendChild(J.button(J.t('js.admin.button_forget'), 'button-danger-outline', function () { confirmForget(u); }));
        }
        tr.appendChild(cell(J.t('js.admin.col_user'), userCell(u)));
        tr.appendChild(cell(J.t('js.admin.col_two_factor'), factorBadges(u.methods)));
        tr.appendChild(cell(J.t('js.admin.col_access'), lines([
          count(u.sessions, function (n) { return J.tn('js.admin.count_sessions', n); }),
          count(u.trusted_browsers, function (n) { return J.tn('js.admin.count_trusted_browsers', n); }),
          count(u.devices, function (n) { return J.tn('js.admin.count_paired_devices', n); }),
          count(u.app_passwords, function (n) { return J.tn('js.admin.count_app_passwords', n); })
        ].filter(Boolean))));
        tr.appendChild(cell(J.t('js.admin.col_lockout'), u.locked_until ? badge(J.t('js.admin.locked_until', { Time: shortTime(u.locked_until) }), 'badge-bad') : null));
        tr.appendChild(cell(J.t('js.admin.col_networks'), u.networks && u.networks.length ? lines(u.networks) : el('span', 'muted', J.t('js.admin.anywhere'))));
        tr.appendChild(cell(ACTIONS, actions));
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
        return J.row('device', p.device_name || J.t('js.admin.unnamed_device'), [p.client + (p.version ? ' ' + p.version : ''), p.ip,
          p.last_used ? J.t('js.admin.last_used', { When: J.ago(p.last_used) }) : J.t('js.admin.paired_ago', { When: J.ago(p.requested_at) })], '', [
          J.button(J.t('js.admin.button_revoke'), 'button-secondary', function (b) {
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
              tell(J.t('js.admin.device_revoked', { Device: p.device_name || J.t('js.admin.the_device'), Name: name }));
              loadDevices();
            });
          })
        ]);
      }));
      J.fill('devices-pairings', v.pairings.map(function (p) {
        var device = p.device_name || J.t('js.admin.the_device');
        return J.row('device', p.device_name || J.t('js.admin.unnamed_device'), [p.client + (p.version ? ' ' + p.version : ''), p.ip, J.t('js.admin.asked_ago', { When: J.ago(p.requested_at) })],
          p.status === 'approved' ? J.t('js.admin.status_approved') : J.t('js.admin.status_waiting'), p.status === 'approved' ? [] : [
            act(J.t('js.admin.button_approve'), 'button-secondary', 'pairings.answer', { user: uid, pairing: p.id, approve: true }, J.t('js.admin.pairing_approved', { Device: device, Name: name })),
            act(J.t('js.admin.button_deny'), 'button-secondary', 'pairings.answer', { user: uid, pairing: p.id, approve: false }, J.t('js.admin.pairing_denied', { Device: device }))
          ]);
      }));
      J.fill('devices-sessions', v.sessions.map(function (s) {
        var app = [s.client, s.device].filter(Boolean).join(' · ') || J.t('js.admin.unknown_app');
        return J.row('session', app, [reasons[s.reason] || s.reason, J.ago(s.verified_at), s.ip], '', [
          act(J.t('js.admin.button_sign_out'), 'button-secondary', 'sessions.revoke', { user: uid, session: s.id }, J.t('js.admin.session_signed_out', { App: app }))
        ]);
      }));
      J.fill('devices-held', held.map(function (h) {
        var app = [h.device.client, h.device.name].filter(Boolean).join(' · ') || J.t('js.admin.unknown_app');
        return J.row('session', app, [h.ip, J.t('js.admin.held_since', { When: J.ago(h.issued_at) })], '', [
          act(J.t('js.admin.button_end'), 'button-secondary', 'challenges.end', { challenge: h.id }, J.t('js.admin.held_ended', { App: app }))
        ]);
      }));
      J.fill('devices-browsers', v.trusted_browsers.map(function (b) {
        return J.row('browser', b.name, [J.t('js.admin.last_used', { When: J.ago(b.last_used) }), b.ip, J.t('js.admin.trusted_until', { Date: J.longDate(b.expires_at) })], '', []);
      }));
      J.fill('devices-apppasswords', v.app_passwords.map(function (p) {
        var used = !p.last_used ? J.t('js.admin.not_used_yet') : p.last_ip ?
          J.t('js.admin.last_used_from', { When: J.ago(p.last_used), Address: p.last_ip }) : J.t('js.admin.last_used', { When: J.ago(p.last_used) });
        return J.row('app', p.label, [J.t('js.admin.created_on', { Date: J.longDate(p.created_at) }), used], '', [
          act(J.t('js.admin.button_revoke'), 'button-secondary', 'app_passwords.revoke', { user: uid, id: p.id }, J.t('js.admin.app_password_revoked', { Label: p.label }))
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
        tr.appendChild(cell(J.t('js.admin.col_address'), el('span', 'mono', b.ip)));
        tr.appendChild(cell(J.t('js.admin.col_until'), timeEl(b.until)));
        tr.appendChild(cell(J.t('js.admin.col_reason'), b.reason));
        tr.appendChild(cell(ACTIONS, J.button(J.t('js.admin.button_lift_ban'), 'button-secondary', function (btn) {
          clearMessages();
          var undo = J.busy(btn);
          rpc('bans.remove', { ip: b.ip, reason: J.t('js.admin.lift_reason') }).then(function (r) {
            undo();
            if (r.error) {
              if (!r.denied) {
                error(r.error.message);
              }
              return;
            }
            tell(J.t('js.admin.unbanned', { Address: r.result.prefix || b.ip }));
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
      fieldError(form, J.t('js.admin.ban_enter_address'), J.$('ban-ip'));
      return;
    }
    var undo = J.busy(form.querySelector('button[type="submit"]'));
    // The choices are in hours; the API takes a duration.
    rpc('bans.add', { ip: ip, duration: J.$('ban-duration').value + 'h', reason: J.$('ban-reason').value.trim() }).then(function (a) {
      undo();
      if (a.error) {
        if (!a.denied) {
          fieldError(form, ipProblem(a.error.message) || a.error.message, J.$('ban-ip'));
        }
        return;
      }
      J.$('ban-ip').value = '';
      J.$('ban-reason').value = '';
      tell(J.t('js.admin.banned', { Address: a.result.prefix || a.result.ip, Duration: J.$('ban-duration').selectedOptions[0].textContent }));
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
      return v === 'true' ? J.t('js.admin.on') : J.t('js.admin.off');
    }
    return meta.count && /^\d+$/.test(v) ? meta.count(Number(v)) : v;
  }

  function renderSettings() {
    var byGroup = {};
    var known = Object.keys(settingsMeta).filter(function (k) { return k in settings; });
    var other = Object.keys(settings).filter(function (k) { return !settingsMeta[k]; }).sort();
    known.concat(other).forEach(function (k) {
      var g = (settingsMeta[k] || {}).group || 'other';
      (byGroup[g] = byGroup[g] || []).push(k);
    });
    var box = J.$('settings-groups');
    box.replaceChildren.apply(box, settingGroups.filter(function (g) { return byGroup[g]; }).map(function (g) {
      var fs = el('fieldset', 'setting-group');
      fs.appendChild(el('legend', '', groupNames[g]));
      byGroup[g].forEach(function (k) {
        var meta = settingsMeta[k] || { label: k, kind: 'text', help: '' };
        var input = settingInput(k, settings[k]);
        var wrap = el('div', 'setting setting-' + meta.kind); // i18n: not text
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
      tell(J.t('js.admin.nothing_to_save'));
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
        saved.push(J.t('js.admin.saved_setting', { Setting: (settingsMeta[key] || { label: key }).label, Value: settingWords(key, settings[key]) }));
      });
      if (saved.length) {
        tell(J.t('js.admin.saved', { Settings: saved.join(J.t('js.admin.saved_separator')) }));
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
        return J.row('bell', name, [], '', [J.button(J.t('js.admin.button_test_alert'), 'button-secondary', function (b) {
          clearMessages();
          var undo = J.busy(b);
          rpc('notify.test', { sink: name }).then(function (r) {
            undo();
            if (r.error) {
              if (!r.denied) {
                error(J.t('js.admin.test_alert_failed', { Destination: name, Error: r.error.message }));
              }
              return;
            }
            tell(J.t('js.admin.test_alert_sent', { Destination: name }));
          });
        })]);
      }));
      var failures = st.failures || [];
      fillBody('failures', failures.map(function (f) {
        var tr = el('tr');
        tr.appendChild(cell(J.t('js.admin.col_time'), timeEl(f.time)));
        tr.appendChild(cell(J.t('js.admin.col_destination'), f.sink));
        tr.appendChild(cell(J.t('js.admin.col_event'), typeInfo(f.event_type || '').label));
        tr.appendChild(cell(J.t('js.admin.col_attempts'), String(f.attempts)));
        tr.appendChild(cell(J.t('js.admin.col_error'), f.error));
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
      tell(to ? J.t('js.admin.test_email_sent', { To: to }) : J.t('js.admin.test_email_sent_admins'));
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
    J.$('verify-title').textContent = res.ok ? J.t('js.admin.verify_ok') : J.t('js.admin.verify_altered');
    var counts = { Events: J.tn('js.admin.verify_events', rep.events || 0), Checkpoints: J.tn('js.admin.verify_checkpoints', rep.checkpoints || 0) };
    var detail = rep.sealed_through ? J.t('js.admin.verify_checked_sealed', Object.assign({ Sequence: rep.sealed_through }, counts)) : J.t('js.admin.verify_checked', counts);
    if (rep.unsealed) {
      detail = J.t('js.admin.two_sentences', { First: detail, Second: J.tn('js.admin.verify_unsealed', rep.unsealed) });
    }
    if (!res.ok && rep.first_bad) {
      detail = J.t('js.admin.two_sentences', { First: J.t('js.admin.verify_first_bad', { Sequence: rep.first_bad }), Second: detail });
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
      tell(J.t('js.admin.checkpoint_written'));
    });
  });

  J.$('public-key-copy').addEventListener('click', function (e) {
    J.copy(J.$('public-key').textContent, e.currentTarget).then(function (done) {
      if (!done) {
        error(J.t('js.admin.copy_blocked'));
      }
    });
  });

  loaders.audit = function () {
    return rpc('audit.public_key').then(function (a) {
      var has = !a.error;
      J.$('public-key').textContent = has ? a.result.public_key : J.t('js.admin.no_checkpoints');
      J.$('public-key-copy').hidden = !has;
    });
  };

  function serverStatus(st) {
    J.$('server-status').textContent = ' · jfguard ' + st.version + ' · ' + J.tn('js.admin.event_count', st.last_sequence);
    // Events written around jfguard (no valid MAC) were refused: say so on every view.
    var forged = st.forged_events || 0;
    var box = J.$('integrity');
    box.hidden = forged === 0;
    box.textContent = forged === 0 ? '' : J.tn('js.admin.forged_events', forged, { Label: eventLabel('forged_event_detected') });
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
      J.$('admin-name').textContent = userNames[selfId] || J.t('js.admin.an_administrator');
      serverStatus(st);
      return J.request('GET', '/jfguard/api/admin/event-types', undefined, { Authorization: J.authorization('jfguard', token) });
    }).then(function (res) {
      if (!res) {
        return;
      }
      var groups = { user: J.t('js.admin.types_users'), ip: J.t('js.admin.types_addresses'), system: J.t('js.admin.types_system') };
      var sel = J.$('filter-type');
      var byGroup = {};
      ((res.ok && res.body.types) || []).forEach(function (t) {
        t.label = eventLabel(t.type);
        types[t.type] = t;
        (byGroup[t.aggregate] = byGroup[t.aggregate] || []).push(t);
      });
      Object.keys(groups).forEach(function (g) {
        if (!byGroup[g]) {
          return;
        }
        var og = el('optgroup');
        og.label = groups[g];
        byGroup[g].sort(function (x, y) { return x.label.localeCompare(y.label, J.lang); }).forEach(function (t) {
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
