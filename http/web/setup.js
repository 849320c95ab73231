// The setup page: a person's own two-factor settings. It signs in to jfguard's
// self-service API with the Jellyfin web app's session from this browser, so there is
// nothing new to sign in to. Every change answers inline and then reloads the
// overview from the server.
(function () {
  'use strict';

  var J = window.jfguard;
  var token = null;
  var me = null;
  var alertBox = J.$('alert');
  var notice = J.$('notice');

  // The second steps, in the words the status uses ("Jellyfin asks for …").
  var stepWords = {
    totp: J.t('js.setup.step_totp'),
    passkey: J.t('js.setup.step_passkey'),
    email: J.t('js.setup.step_email')
  };

  // orList joins up to three phrases as a sentence does: "a, b or c". The phrases
  // are the words of one sentence, so each language words them for that sentence.
  function orList(words) {
    if (words.length < 2) {
      return words.join('');
    }
    if (words.length === 2) {
      return J.t('js.setup.or_two', { First: words[0], Second: words[1] });
    }
    return J.t('js.setup.or_three', { First: words.slice(0, -2).join(J.t('js.setup.list_separator')), Second: words[words.length - 2], Third: words[words.length - 1] });
  }

  function has(method) {
    return me.methods.indexOf(method) >= 0;
  }

  // Why a session was let in, in the words a person would use.
  var reasons = {
    no_2fa: J.t('js.setup.reason_no_2fa'),
    jfguard_disabled: J.t('js.setup.reason_jfguard_disabled'),
    lan: J.t('js.setup.reason_lan'),
    trusted_browser: J.t('js.setup.reason_trusted_browser'),
    challenge: J.t('js.setup.reason_challenge'),
    pairing: J.t('js.setup.reason_pairing'),
    app_password: J.t('js.setup.reason_app_password'),
    passkey_sign_in: J.t('js.setup.reason_passkey_sign_in')
  };

  // send calls the self-service API. When the session is gone (signed out elsewhere),
  // the page says so and the caller has nothing more to show: res.signedOut.
  function send(method, path, body) {
    return J.request(method, '/jfguard/api/me' + path, body, { Authorization: J.authorization('jfguard', token) }).then(function (res) {
      res.signedOut = res.status === 401 && res.body.error === 'unauthorized';
      if (res.signedOut) {
        show('signed-out');
      }
      return res;
    });
  }

  // api is send, with the step-up: a change that needs the second step again
  // (step_up_required) opens a dialog asking for it, then is sent again. Cancelling
  // answers the refusal, whose message the caller shows.
  function api(method, path, body) {
    return send(method, path, body).then(function (res) {
      if (res.status !== 403 || res.body.error !== 'step_up_required') {
        return res;
      }
      return stepUp().then(function (proved) {
        return proved ? send(method, path, body) : res;
      });
    });
  }

  // stepUp asks for the second step in a dialog and resolves to whether the person
  // proved it. It takes any factor the person has, as the forms of sensitive changes
  // do (an authenticator code, a recovery code, an emailed code, a passkey).
  var pendingStepUp = null;
  function stepUp() {
    if (pendingStepUp) {
      return pendingStepUp;
    }
    var dialog = J.$('stepup');
    pendingStepUp = new Promise(function (resolve) {
      var finished = false;
      var finish = function (proved) {
        if (finished) {
          return;
        }
        finished = true;
        pendingStepUp = null;
        J.$('stepup-proof').replaceChildren();
        J.$('stepup-anchor').hidden = true;
        if (dialog.open) {
          dialog.close();
        }
        resolve(proved);
      };
      proof('stepup-proof', J.$('stepup-anchor'), '', J.t('js.setup.confirm'), J.t('js.setup.confirm_with_passkey'), 'button-primary', function (factor) {
        return send('POST', '/step-up', factor).then(function (res) {
          if (res.ok) {
            setTimeout(function () { finish(true); }, 0);
          }
          return res;
        });
      });
      J.$('stepup-proof').querySelector('[data-cancel]').addEventListener('click', function () { finish(false); });
      dialog.addEventListener('close', function () { finish(false); }, { once: true });
      dialog.showModal();
      J.focus(dialog.querySelector('input:not([hidden]), button:not([hidden])'));
    });
    return pendingStepUp;
  }

  function show(name) {
    ['loading', 'signed-out', 'ready'].forEach(function (n) { J.$('state-' + n).hidden = n !== name; });
    if (name === 'signed-out') {
      J.focus(J.$('signed-out-heading'));
    }
  }

  function error(text) {
    J.hide(notice);
    J.showAlert(alertBox, text);
    alertBox.scrollIntoView({ block: 'nearest' });
  }

  function tell(text) {
    J.hide(alertBox);
    notice.textContent = text;
    notice.hidden = false;
  }

  function clearMessages() {
    J.hide(alertBox);
    J.hide(notice);
  }

  function load() {
    return api('GET', '').then(function (res) {
      if (res.ok) {
        me = res.body;
        render();
        show('ready');
      } else if (!res.signedOut) {
        show('ready');
        error(J.message(res, J.t('js.setup.load_failed')));
      }
    });
  }

  // act runs a change from a list's button and reloads the overview.
  function act(b, method, path, done) {
    clearMessages();
    var undo = J.busy(b);
    api(method, path).then(function (res) {
      undo();
      if (!res.ok) {
        if (!res.signedOut) {
          error(J.message(res));
        }
        return;
      }
      tell(done);
      load();
    });
  }

  function render() {
    J.$('user-name').textContent = me.user.name;
    var on = me.two_factor;
    var status = J.$('status');
    status.classList.toggle('is-on', on);
    status.classList.toggle('is-off', !on);
    J.$('status-title').textContent = on ? J.t('js.setup.status_on') : J.t('js.setup.status_off');
    var steps = me.methods.filter(function (m) { return stepWords[m]; }).map(function (m) { return stepWords[m]; });
    J.$('status-detail').textContent = on ?
      J.t('js.setup.status_on_detail', { Steps: orList(steps) }) :
      J.t('js.setup.status_off_detail');

    var totp = me.totp || {};
    var badge = J.$('totp-badge');
    badge.className = 'badge' + (totp.enrolled ? ' badge-on' : '');
    badge.textContent = totp.enrolled ? J.t('js.setup.badge_on') : J.t('js.setup.badge_not_set_up');
    J.$('totp-text').textContent = totp.enrolled ?
      J.t('js.setup.totp_on', { Date: J.longDate(totp.enrolled_at) }) :
      J.t('js.setup.totp_off');
    J.$('totp-actions').hidden = totp.enrolled || !J.$('enroll').hidden;

    J.$('recovery').hidden = !on;
    var left = me.recovery_codes_left;
    var rb = J.$('recovery-badge');
    rb.className = 'badge' + (left <= 3 ? ' badge-warn' : '');
    rb.textContent = J.tn('js.setup.codes_left', left);
    J.$('recovery-text').textContent = left === 0 ?
      J.t('js.setup.recovery_none') :
      J.t('js.setup.recovery_text');
    J.$('disable').hidden = !on;

    renderPasskeys();
    renderEmail();
    renderAppPasswords();

    J.fill('browsers-list', me.trusted_browsers.map(function (b) {
      return J.row('browser', b.name, [J.t('js.setup.browser_last_used', { When: J.ago(b.last_used) }), b.ip, J.t('js.setup.browser_trusted_until', { Date: J.longDate(b.expires_at) })],
        b.current ? J.t('js.setup.this_browser') : '',
        [J.button(J.t('js.setup.revoke'), 'button-secondary', function (el) {
          act(el, 'DELETE', '/browsers/' + encodeURIComponent(b.id), b.current ?
            J.t('js.setup.browser_revoked_this') :
            J.t('js.setup.browser_revoked', { Name: b.name }));
        })]);
    }));

    J.fill('sessions-list', me.sessions.map(function (s) {
      var name = [s.client, s.device].filter(Boolean).join(' · ') || J.t('js.setup.unknown_app');
      var actions = s.current ? [] : [J.button(J.t('js.setup.sign_out'), 'button-secondary', function (el) {
        act(el, 'DELETE', '/sessions/' + encodeURIComponent(s.id), J.t('js.setup.session_signed_out', { Name: name }));
      })];
      return J.row('session', name, [reasons[s.reason] || s.reason, J.ago(s.verified_at), s.ip], s.current ? J.t('js.setup.this_browser') : '', actions);
    }));

    J.fill('pairings-list', me.pairings.map(function (p) {
      var meta = [p.client + (p.version ? ' ' + p.version : ''), p.ip, J.t('js.setup.pairing_asked', { When: J.ago(p.requested_at) })];
      if (p.status === 'approved') {
        return J.row('device', p.device_name, meta.concat(J.t('js.setup.pairing_approved_hint')), J.t('js.setup.badge_approved'), []);
      }
      return J.row('device', p.device_name, meta, '', [
        J.button(J.t('js.setup.approve'), 'button-primary', function (el) {
          act(el, 'POST', '/pairings/' + encodeURIComponent(p.id) + '/approve', J.t('js.setup.pairing_approved', { Name: p.device_name }));
        }),
        J.button(J.t('js.setup.deny'), 'button-secondary', function (el) {
          act(el, 'POST', '/pairings/' + encodeURIComponent(p.id) + '/deny', J.t('js.setup.pairing_denied', { Name: p.device_name }));
        })
      ]);
    }));
    J.fill('paired-list', me.devices.map(function (p) {
      var used = p.last_used ? J.t('js.setup.last_used', { When: J.ago(p.last_used) }) : J.t('js.setup.device_approved_when', { When: J.ago(p.requested_at) });
      return J.row('device', p.device_name, [p.client + (p.version ? ' ' + p.version : ''), used], '', [
        J.button(J.t('js.setup.remove'), 'button-secondary', function (el) {
          act(el, 'DELETE', '/devices/' + encodeURIComponent(p.id), J.t('js.setup.device_removed', { Name: p.device_name }));
        })
      ]);
    }));
    J.$('pairings-title').hidden = me.pairings.length === 0;
    J.$('paired-title').hidden = me.devices.length === 0;
    J.$('devices-empty').hidden = me.pairings.length + me.devices.length > 0;
  }

  // copy copies for one of the page's Copy buttons and says so when it could not.
  function copy(text, b) {
    J.copy(text, b).then(function (done) {
      if (!done) {
        error(J.t('js.setup.copy_blocked'));
      }
    });
  }

  // Enrolling an authenticator app.
  var secret = '';

  function blobToDataURL(blob) {
    return new Promise(function (resolve, reject) {
      var r = new FileReader();
      r.onload = function () { resolve(r.result); };
      r.onerror = reject;
      r.readAsDataURL(blob);
    });
  }

  J.$('totp-start').addEventListener('click', function () {
    var b = J.$('totp-start');
    clearMessages();
    var undo = J.busy(b);
    api('POST', '/totp').then(function (res) {
      if (!res.ok) {
        undo();
        if (!res.signedOut) {
          error(J.message(res));
        }
        return null;
      }
      secret = res.body.secret;
      J.$('enroll-secret').textContent = secret.match(/.{1,4}/g).join(' ');
      // On a phone the app is on the same device: the otpauth: link opens it.
      J.$('enroll-open').href = res.body.uri;
      // The QR route needs the Authorization header, so the image is fetched here
      // and shown as a data: URL, which the page's img-src already allows.
      return fetch(res.body.qr || '/jfguard/api/me/totp/qr', { headers: { Authorization: J.authorization('jfguard', token) } })
        .then(function (r) { return r.ok ? r.blob().then(blobToDataURL) : ''; })
        .catch(function () { return ''; })
        .then(function (src) {
          undo();
          var img = J.$('enroll-qr');
          if (src) {
            img.src = src;
          }
          img.parentElement.hidden = !src;
          J.$('totp-actions').hidden = true;
          J.$('enroll').hidden = false;
          J.$('enroll-code').value = '';
          J.focus(J.$('enroll-heading'));
        });
    });
  });

  J.$('enroll-copy').addEventListener('click', function (e) { copy(secret, e.currentTarget); });

  J.$('enroll-cancel').addEventListener('click', function () {
    J.$('enroll').hidden = true;
    J.$('totp-actions').hidden = false;
    J.$('enroll-qr').removeAttribute('src');
    J.$('enroll-open').href = '#';
    secret = '';
    J.focus(J.$('totp-start'));
  });

  function fieldError(form, text) {
    var p = form.querySelector('.field-error');
    var input = form.querySelector('input');
    p.textContent = text;
    p.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    input.select();
    J.focus(input);
  }

  function clearFieldError(form) {
    var p = form.querySelector('.field-error');
    p.hidden = true;
    p.textContent = '';
    form.querySelector('input').removeAttribute('aria-invalid');
  }

  J.$('enroll-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var form = e.currentTarget;
    clearFieldError(form);
    var code = J.digits(J.$('enroll-code').value);
    if (!/^[0-9]{6}$/.test(code)) {
      fieldError(form, J.t('js.setup.enroll_six_digits'));
      return;
    }
    var undo = J.busy(form.querySelector('button[type="submit"]'));
    api('POST', '/totp/confirm', { code: code }).then(function (res) {
      undo();
      if (!res.ok) {
        if (!res.signedOut) {
          fieldError(form, res.body.error === 'invalid_code' ?
            J.t('js.setup.enroll_wrong_code') : J.message(res));
        }
        return;
      }
      J.$('enroll').hidden = true;
      J.$('enroll-qr').removeAttribute('src');
      J.$('enroll-open').href = '#';
      secret = '';
      tell(J.t('js.setup.totp_done'));
      if (res.body.recovery_codes && res.body.recovery_codes.length) {
        showCodes(res.body.recovery_codes);
      }
      load();
    });
  });

  // Recovery codes are shown once, right after they are made.
  var codes = [];

  function codesFor() {
    return J.t('js.setup.codes_for', { Name: me ? me.user.name : '', Host: location.host });
  }

  function codesText() {
    return [
      codesFor(),
      J.t('js.setup.codes_created', { Date: new Date().toLocaleString(J.lang) }),
      '',
      J.t('js.setup.codes_file_note'),
      ''
    ].concat(codes.map(function (c, i) { return (i + 1) + '. ' + c; })).join('\n') + '\n';
  }

  function showCodes(list) {
    codes = list.slice();
    J.$('codes-for').textContent = J.t('js.setup.codes_for_dated', { Name: me ? me.user.name : '', Host: location.host, Date: new Date().toLocaleDateString(J.lang) });
    J.fill('codes-list', codes.map(function (c) {
      var li = document.createElement('li');
      li.textContent = c;
      return li;
    }));
    J.$('codes').hidden = false;
    J.$('codes').scrollIntoView({ block: 'start' });
    J.focus(J.$('codes-heading'));
  }

  J.$('codes-download').addEventListener('click', function () {
    var url = URL.createObjectURL(new Blob([codesText()], { type: 'text/plain;charset=utf-8' }));
    var a = document.createElement('a');
    a.href = url;
    a.download = J.t('js.setup.codes_file_name');
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
  });
  J.$('codes-print').addEventListener('click', function () { window.print(); });
  J.$('codes-copy').addEventListener('click', function (e) { copy(codesText(), e.currentTarget); });
  J.$('codes-done').addEventListener('click', function () {
    codes = [];
    J.$('codes-list').replaceChildren();
    J.$('codes').hidden = true;
    J.focus(J.$('status-title'));
  });

  // countdown shows when a new emailed code can be sent, and keeps the buttons that
  // would send one disabled until then.
  function countdown(el, seconds, buttons) {
    var until = Date.now() + seconds * 1000;
    buttons.forEach(function (b) { b.disabled = true; });
    el.hidden = false;
    var tick = function () {
      var left = (until - Date.now()) / 1000;
      if (left <= 0) {
        clearInterval(interval);
        el.hidden = true;
        el.textContent = '';
        buttons.forEach(function (b) { b.disabled = false; });
        return;
      }
      el.textContent = J.t('js.setup.wait', { Time: J.clock(left) });
    };
    var interval = setInterval(tick, 500);
    tick();
  }

  // Changes that need a current factor open a small form under their button. It takes
  // whichever factor the person has: a code from the authenticator app, a recovery
  // code, a code jfguard emails on request, or a passkey. send gets the factor as the
  // API takes it ({method, code} or {method: 'passkey', ceremony, credential}).
  // label names the change on its button; passkeyLabel on the button that proves it
  // with a passkey when there is no code to type.
  function proof(slotId, trigger, title, label, passkeyLabel, cls, send) {
    var slot = J.$(slotId);
    if (slot.firstElementChild) {
      J.focus(slot.querySelector('input:not([hidden]), button'));
      return;
    }
    var form = J.$('tpl-proof').content.firstElementChild.cloneNode(true);
    var input = form.querySelector('input');
    var row = form.querySelector('.input-row');
    var submit = form.querySelector('button[type="submit"]');
    var sent = form.querySelector('.sent');
    var byEmail = form.querySelector('[data-proof-email]');
    var byPasskey = form.querySelector('[data-proof-passkey]');
    var titleEl = form.querySelector('.proof-title');
    var labelEl = form.querySelector('label');
    // A 6-digit code is the authenticator's, unless the person asked for one by email
    // (or has no authenticator).
    var emailMode = !has('totp') && has('email');
    var codes = [];
    if (has('totp')) {
      codes.push(J.t('js.setup.enter_totp'));
    }
    if (has('email')) {
      codes.push(J.t('js.setup.enter_email'));
    }
    if (has('recovery')) {
      codes.push(J.t('js.setup.enter_recovery'));
    }
    var passkeys = has('passkey') && J.passkeysSupported();
    titleEl.textContent = title;
    titleEl.hidden = !title;
    input.id = slotId + '-code';
    labelEl.htmlFor = input.id;
    labelEl.textContent = codes.length ? J.t('js.setup.enter_codes', { Codes: orList(codes) }) : J.t('js.setup.confirm_with_your_passkey');
    submit.textContent = label;
    submit.classList.add(cls);
    byEmail.hidden = !has('email');
    byPasskey.hidden = !passkeys;
    if (!codes.length) {
      row.hidden = true;
      byPasskey.textContent = passkeyLabel;
      byPasskey.className = 'button ' + cls;
    }
    var close = function () {
      slot.replaceChildren();
      trigger.hidden = false;
      J.focus(trigger);
    };
    var run = function (factor, busyButton) {
      clearFieldError(form);
      var undo = J.busy(busyButton);
      return send(factor).then(function (res) {
        undo();
        if (res.ok) {
          slot.replaceChildren();
          trigger.hidden = false;
          return;
        }
        if (!res.signedOut) {
          fieldError(form, J.message(res));
        }
      });
    };
    form.querySelector('[data-cancel]').addEventListener('click', close);
    input.addEventListener('input', function () { input.removeAttribute('aria-invalid'); });
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      clearFieldError(form);
      var raw = input.value.trim();
      var code = /^[0-9\s-]+$/.test(raw) ? J.digits(raw) : raw;
      if (!code) {
        fieldError(form, J.t('js.setup.enter_a_code'));
        return;
      }
      var method = !/^[0-9]{6}$/.test(code) ? 'recovery' : emailMode ? 'email' : 'totp';
      run({ method: method, code: code }, submit);
    });
    byEmail.addEventListener('click', function () {
      clearFieldError(form);
      var undo = J.busy(byEmail);
      api('POST', '/email/code', {}).then(function (res) {
        undo();
        if (res.status === 429 && res.body.retry_after) {
          countdown(sent, res.body.retry_after, [byEmail]);
          return;
        }
        if (!res.ok) {
          if (!res.signedOut) {
            fieldError(form, J.message(res));
          }
          return;
        }
        emailMode = true;
        byEmail.textContent = J.t('js.setup.email_me_new_code');
        sent.textContent = J.t('js.setup.email_sent');
        J.focus(input);
      });
    });
    byPasskey.addEventListener('click', function () {
      clearFieldError(form);
      var undo = J.busy(byPasskey);
      api('POST', '/passkeys/proof', {}).then(function (res) {
        if (!res.ok) {
          undo();
          if (!res.signedOut) {
            fieldError(form, J.message(res));
          }
          return null;
        }
        return J.getPasskey(res.body.publicKey).then(function (credential) {
          undo();
          return run({ method: 'passkey', ceremony: res.body.ceremony, credential: credential }, byPasskey);
        });
      }).catch(function (err) {
        byPasskey.disabled = false;
        byPasskey.removeAttribute('aria-busy');
        fieldError(form, J.passkeyProblem(err));
      });
    });
    trigger.hidden = true;
    slot.appendChild(form);
    J.focus(codes.length ? input : byPasskey);
  }

  J.$('recovery-new').addEventListener('click', function (e) {
    clearMessages();
    proof('recovery-proof', e.currentTarget, '', J.t('js.setup.recovery_new'), J.t('js.setup.recovery_new_with_passkey'), 'button-primary', function (factor) {
      return api('POST', '/recovery-codes', factor).then(function (res) {
        if (res.ok) {
          tell(J.t('js.setup.recovery_done'));
          showCodes(res.body.recovery_codes);
          load();
        }
        return res;
      });
    });
  });

  J.$('disable-start').addEventListener('click', function (e) {
    clearMessages();
    proof('disable-proof', e.currentTarget, '', J.t('js.setup.turn_off'), J.t('js.setup.turn_off_with_passkey'), 'button-danger', function (factor) {
      return api('POST', '/disable', factor).then(function (res) {
        if (res.ok) {
          tell(J.t('js.setup.disable_done'));
          load();
          window.scrollTo({ top: 0 });
        }
        return res;
      });
    });
  });

  // Passkeys: add one (the browser makes it, jfguard checks it), rename it in place,
  // remove it with a current factor.
  function renderPasskeys() {
    var st = me.features.passkeys;
    var keys = me.passkeys;
    var badge = J.$('passkeys-badge');
    badge.className = 'badge' + (keys.length ? ' badge-on' : '');
    badge.textContent = keys.length ? J.tn('js.setup.passkey_count', keys.length) : st.enabled ? J.t('js.setup.badge_not_set_up') : J.t('js.setup.badge_unavailable');
    // Passkeys are off only when the server has no webauthn settings.
    var text = J.t('js.setup.passkeys_text');
    if (!st.enabled) {
      text = J.t('js.setup.passkeys_off');
    } else if (!J.passkeysSupported()) {
      text = J.t('js.setup.passkeys_text_unsupported');
    } else if (st.sign_in) {
      text = J.t('js.setup.passkeys_text_sign_in');
    }
    J.$('passkeys-text').textContent = text;
    J.$('passkey-add').hidden = !st.enabled || !J.passkeysSupported() || keys.length >= 20;
    J.fill('passkeys-list', keys.map(function (k) {
      var meta = [J.t('js.setup.passkey_added_on', { Date: J.longDate(k.created_at) }), k.last_used ? J.t('js.setup.last_used', { When: J.ago(k.last_used) }) : J.t('js.setup.not_used_yet'), k.synced ? J.t('js.setup.passkey_synced') : ''];
      var li = J.row('key', k.label, meta, '', [
        J.button(J.t('js.setup.rename'), 'button-secondary', function () { rename(li, k); }),
        J.button(J.t('js.setup.remove'), 'button-secondary', function (el) {
          clearMessages();
          proof('passkey-proof', el, J.t('js.setup.passkey_remove_title', { Name: k.label }), J.t('js.setup.remove'), J.t('js.setup.remove_with_passkey'), 'button-danger', function (factor) {
            return api('POST', '/passkeys/' + encodeURIComponent(k.id) + '/remove', factor).then(function (res) {
              if (res.ok) {
                tell(J.t('js.setup.passkey_removed', { Name: k.label }));
                load();
              }
              return res;
            });
          });
        })
      ]);
      li.dataset.passkey = k.id;
      return li;
    }));
  }

  function rename(li, k) {
    var main = li.querySelector('.row-main');
    var actions = li.querySelector('.row-actions');
    var form = J.$('tpl-rename').content.firstElementChild.cloneNode(true);
    var input = form.querySelector('input');
    var saved = Array.prototype.slice.call(main.childNodes);
    input.value = k.label;
    actions.hidden = true;
    main.replaceChildren(form);
    var restore = function () {
      main.replaceChildren.apply(main, saved);
      actions.hidden = false;
    };
    form.querySelector('[data-cancel]').addEventListener('click', restore);
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var label = input.value.trim();
      if (!label) {
        input.setAttribute('aria-invalid', 'true');
        J.focus(input);
        return;
      }
      var undo = J.busy(form.querySelector('button[type="submit"]'));
      api('PATCH', '/passkeys/' + encodeURIComponent(k.id), { label: label }).then(function (res) {
        undo();
        if (!res.ok) {
          if (!res.signedOut) {
            error(J.message(res));
          }
          return;
        }
        tell(J.t('js.setup.passkey_renamed', { Name: label }));
        load();
      });
    });
    input.select();
    J.focus(input);
  }

  J.$('passkey-add').addEventListener('submit', function (e) {
    e.preventDefault();
    var form = e.currentTarget;
    clearFieldError(form);
    clearMessages();
    var label = J.$('passkey-label').value.trim();
    var submit = form.querySelector('button[type="submit"]');
    var undo = J.busy(submit);
    api('POST', '/passkeys/register', {}).then(function (res) {
      if (!res.ok) {
        undo();
        if (!res.signedOut) {
          fieldError(form, J.message(res));
        }
        return null;
      }
      return J.createPasskey(res.body.publicKey).then(function (credential) {
        return api('POST', '/passkeys', { ceremony: res.body.ceremony, label: label, credential: credential });
      }).then(function (done) {
        undo();
        if (!done.ok) {
          if (!done.signedOut) {
            fieldError(form, J.message(done));
          }
          return;
        }
        J.$('passkey-label').value = '';
        tell(J.t('js.setup.passkey_added', { Name: done.body.passkey.label }));
        if (done.body.recovery_codes && done.body.recovery_codes.length) {
          showCodes(done.body.recovery_codes);
        }
        load();
      });
    }).catch(function (err) {
      undo();
      fieldError(form, J.passkeyProblem(err));
    });
  });

  // Email codes: add an address, confirm it with the code that arrives, remove it
  // with a current factor.
  var emailChanging = false; // "Use another address" while a code waits

  function renderEmail() {
    var on = me.features.email;
    var e = me.email;
    var badge = J.$('email-badge');
    var confirmed = e && e.confirmed;
    var waiting = e && !e.confirmed && !emailChanging;
    badge.className = 'badge' + (confirmed ? ' badge-on' : waiting ? ' badge-warn' : '');
    badge.textContent = confirmed ? J.t('js.setup.badge_on') : waiting ? J.t('js.setup.badge_waiting') : on ? J.t('js.setup.badge_not_set_up') : J.t('js.setup.badge_unavailable');
    var text = J.t('js.setup.email_text');
    if (confirmed) {
      text = J.t('js.setup.email_on', { Address: e.address });
    } else if (!on) {
      text = J.t('js.setup.email_off');
    } else if (waiting) {
      text = J.t('js.setup.email_waiting', { Address: e.address });
    }
    J.$('email-text').textContent = text;
    J.$('email-add').hidden = !on || confirmed || waiting;
    J.$('email-confirm').hidden = !on || !waiting;
    J.$('email-actions').hidden = !confirmed;
  }

  // sendAddress emails a confirmation code to an address.
  function sendAddress(address, form, busyButton, after) {
    clearFieldError(form);
    var undo = J.busy(busyButton);
    return api('POST', '/email', { address: address }).then(function (res) {
      undo();
      if (res.status === 429 && res.body.retry_after) {
        countdown(form.querySelector('.wait'), res.body.retry_after, [busyButton]);
        return;
      }
      if (!res.ok) {
        if (!res.signedOut) {
          fieldError(form, J.message(res));
        }
        return;
      }
      after(res);
    });
  }

  J.$('email-add').addEventListener('submit', function (e) {
    e.preventDefault();
    var form = e.currentTarget;
    var address = J.$('email-address').value.trim();
    if (!address) {
      fieldError(form, J.t('js.setup.email_enter_address'));
      return;
    }
    clearMessages();
    sendAddress(address, form, form.querySelector('button[type="submit"]'), function () {
      emailChanging = false;
      J.$('email-address').value = '';
      load().then(function () { J.focus(J.$('email-code')); });
    });
  });

  J.$('email-confirm').addEventListener('submit', function (e) {
    e.preventDefault();
    var form = e.currentTarget;
    clearFieldError(form);
    var code = J.digits(J.$('email-code').value);
    if (!/^[0-9]{6}$/.test(code)) {
      fieldError(form, J.t('js.setup.email_six_digits'));
      return;
    }
    var undo = J.busy(form.querySelector('button[type="submit"]'));
    api('POST', '/email/confirm', { code: code }).then(function (res) {
      undo();
      if (!res.ok) {
        if (!res.signedOut) {
          fieldError(form, J.message(res));
        }
        return;
      }
      J.$('email-code').value = '';
      tell(J.t('js.setup.email_confirmed'));
      load();
    });
  });

  J.$('email-resend').addEventListener('click', function (e) {
    var form = J.$('email-confirm');
    sendAddress(me.email.address, form, e.currentTarget, function () {
      var wait = form.querySelector('.wait');
      wait.textContent = J.t('js.setup.email_resent');
      wait.hidden = false;
      J.focus(J.$('email-code'));
    });
  });

  J.$('email-other').addEventListener('click', function () {
    emailChanging = true;
    renderEmail();
    J.focus(J.$('email-address'));
  });

  J.$('email-remove').addEventListener('click', function (e) {
    clearMessages();
    proof('email-proof', e.currentTarget, J.t('js.setup.email_remove_title', { Address: me.email.address }), J.t('js.setup.remove'), J.t('js.setup.remove_with_passkey'), 'button-danger', function (factor) {
      return api('POST', '/email/remove', factor).then(function (res) {
        if (res.ok) {
          tell(J.t('js.setup.email_removed'));
          load();
        }
        return res;
      });
    });
  });

  // App passwords: made here, shown once, typed into an app's password field.
  var appPassword = '';

  function renderAppPasswords() {
    J.fill('apppasswords-list', me.app_passwords.map(function (a) {
      var used = !a.last_used ? J.t('js.setup.not_used_yet') : a.last_ip ?
        J.t('js.setup.last_used_from', { When: J.ago(a.last_used), IP: a.last_ip }) :
        J.t('js.setup.last_used', { When: J.ago(a.last_used) });
      return J.row('app', a.label, [J.t('js.setup.apppassword_created_on', { Date: J.longDate(a.created_at) }), used], '', [
        J.button(J.t('js.setup.revoke'), 'button-secondary', function (el) {
          act(el, 'DELETE', '/app-passwords/' + encodeURIComponent(a.id), J.t('js.setup.apppassword_revoked', { Name: a.label }));
        })
      ]);
    }));
  }

  function hideAppPassword() {
    appPassword = '';
    J.$('apppassword-value').textContent = '';
    J.$('apppassword-created').hidden = true;
    J.$('apppassword-add').hidden = false;
  }

  J.$('apppassword-add').addEventListener('submit', function (e) {
    e.preventDefault();
    var form = e.currentTarget;
    clearFieldError(form);
    clearMessages();
    var label = J.$('apppassword-label').value.trim();
    if (!label) {
      fieldError(form, J.t('js.setup.apppassword_name_missing'));
      return;
    }
    var undo = J.busy(form.querySelector('button[type="submit"]'));
    api('POST', '/app-passwords', { label: label }).then(function (res) {
      undo();
      if (!res.ok) {
        if (!res.signedOut) {
          fieldError(form, J.message(res));
        }
        return;
      }
      appPassword = res.body.password;
      J.$('apppassword-label').value = '';
      J.$('apppassword-created-heading').textContent = J.t('js.setup.apppassword_for', { Name: res.body.label });
      J.$('apppassword-value').textContent = appPassword;
      J.$('apppassword-note').textContent = J.t('js.setup.apppassword_note', { User: me.user.name });
      J.$('apppassword-created').hidden = false;
      form.hidden = true;
      load();
      J.focus(J.$('apppassword-created-heading'));
    });
  });

  // Quick Connect: a TV shows a code; approving it here signs the TV in as you.
  J.$('quickconnect-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var form = e.currentTarget;
    clearFieldError(form);
    clearMessages();
    var code = J.digits(J.$('quickconnect-code').value);
    if (!code) {
      fieldError(form, J.t('js.setup.quickconnect_missing'));
      return;
    }
    var undo = J.busy(form.querySelector('button[type="submit"]'));
    api('POST', '/quick-connect', { code: code }).then(function (res) {
      undo();
      if (!res.ok) {
        if (!res.signedOut) {
          fieldError(form, J.message(res));
        }
        return;
      }
      J.$('quickconnect-code').value = '';
      tell(J.t('js.setup.quickconnect_done'));
      load();
    });
  });

  // Lost phone: sign out everywhere else.
  J.$('everywhere-start').addEventListener('click', function (e) {
    clearMessages();
    var b = e.currentTarget;
    var undo = J.busy(b);
    api('POST', '/sign-out-everywhere', {}).then(function (res) {
      undo();
      if (!res.ok) {
        if (!res.signedOut) {
          error(J.message(res));
        }
        return;
      }
      var r = res.body.revoked || {};
      tell(J.t('js.setup.everywhere_done', {
        Sessions: J.tn('js.setup.n_sessions', r.sessions || 0),
        AppPasswords: J.tn('js.setup.n_app_passwords', r.app_passwords || 0),
        Devices: J.tn('js.setup.n_devices', r.devices || 0),
        Browsers: J.tn('js.setup.n_trusted_browsers', r.trusted_browsers || 0)
      }));
      load();
    });
  });

  J.$('apppassword-copy').addEventListener('click', function (e) { copy(appPassword, e.currentTarget); });
  J.$('apppassword-done').addEventListener('click', function () {
    hideAppPassword();
    J.focus(J.$('apppassword-label'));
  });

  J.session().then(function (s) {
    if (!s) {
      show('signed-out');
      return;
    }
    token = s.AccessToken;
    load().then(function () {
      // Sent here by the web app's Quick Connect page: the code waits for approval.
      var code = new URLSearchParams(location.search).get('quick_connect');
      if (code && /^[0-9A-Za-z]{1,12}$/.test(code)) {
        J.$('quickconnect-code').value = code;
        J.$('devices').scrollIntoView({ block: 'start' });
        J.focus(J.$('quickconnect-code'));
      }
    });
  });
}());
