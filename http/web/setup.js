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

  // The second steps, in the words the status and the proof forms use.
  var stepWords = {
    totp: 'a code from your authenticator app',
    passkey: 'your passkey',
    email: 'a code by email'
  };

  // list joins words as a sentence does: "a, b or c".
  function list(words, last) {
    return words.length < 2 ? words.join('') : words.slice(0, -1).join(', ') + ' ' + last + ' ' + words[words.length - 1];
  }

  function has(method) {
    return me.methods.indexOf(method) >= 0;
  }

  // Why a session was let in, in the words a person would use.
  var reasons = {
    no_2fa: 'Signed in before two-factor sign-in was on',
    jfguard_disabled: 'Signed in while checks were off',
    lan: 'Signed in from your home network',
    trusted_browser: 'Signed in from a trusted browser',
    challenge: 'Verified with a second step',
    pairing: 'Approved device',
    app_password: 'Signed in with an app password',
    passkey_sign_in: 'Signed in with a passkey'
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
      proof('stepup-proof', J.$('stepup-anchor'), '', 'Confirm', 'button-primary', function (factor) {
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
        error(J.message(res, 'Your settings could not be loaded. Reload the page to try again.'));
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
    J.$('status-title').textContent = on ? 'Two-factor sign-in is on' : 'Two-factor sign-in is off';
    var steps = me.methods.filter(function (m) { return stepWords[m]; }).map(function (m) { return stepWords[m]; });
    J.$('status-detail').textContent = on ?
      'After your password, Jellyfin asks for ' + list(steps, 'or') + '. A stolen password alone is not enough to sign in as you.' :
      'Anyone who knows your password can sign in as you. Add an authenticator app or a passkey to add a second step.';

    var totp = me.totp || {};
    var badge = J.$('totp-badge');
    badge.className = 'badge' + (totp.enrolled ? ' badge-on' : '');
    badge.textContent = totp.enrolled ? 'On' : 'Not set up';
    J.$('totp-text').textContent = totp.enrolled ?
      'Added on ' + J.longDate(totp.enrolled_at) + '. Jellyfin asks for a code from this app when you sign in.' :
      'An app on your phone shows a new 6-digit code every 30 seconds. You type it after your password.';
    J.$('totp-actions').hidden = totp.enrolled || !J.$('enroll').hidden;

    J.$('recovery').hidden = !on;
    var left = me.recovery_codes_left;
    var rb = J.$('recovery-badge');
    rb.className = 'badge' + (left <= 3 ? ' badge-warn' : '');
    rb.textContent = left + ' left';
    J.$('recovery-text').textContent = left === 0 ?
      'You have no recovery codes left. Get new ones, so losing your phone does not lock you out.' :
      'Each code signs you in once if you lose your phone. Getting new codes replaces the old ones.';
    J.$('disable').hidden = !on;

    renderPasskeys();
    renderEmail();
    renderAppPasswords();

    J.fill('browsers-list', me.trusted_browsers.map(function (b) {
      return J.row('browser', b.name, ['Last used ' + J.ago(b.last_used), b.ip, 'trusted until ' + J.longDate(b.expires_at)],
        b.current ? 'This browser' : '',
        [J.button('Revoke', 'button-secondary', function (el) {
          act(el, 'DELETE', '/browsers/' + encodeURIComponent(b.id), b.current ?
            'This browser is no longer trusted. You will be asked for a code next time.' :
            b.name + ' is no longer trusted.');
        })]);
    }));

    J.fill('sessions-list', me.sessions.map(function (s) {
      var name = [s.client, s.device].filter(Boolean).join(' · ') || 'Unknown app';
      var actions = s.current ? [] : [J.button('Sign out', 'button-secondary', function (el) {
        act(el, 'DELETE', '/sessions/' + encodeURIComponent(s.id), name + ' is signed out.');
      })];
      return J.row('session', name, [reasons[s.reason] || s.reason, J.ago(s.verified_at), s.ip], s.current ? 'This browser' : '', actions);
    }));

    J.fill('pairings-list', me.pairings.map(function (p) {
      var meta = [p.client + (p.version ? ' ' + p.version : ''), p.ip, 'asked ' + J.ago(p.requested_at)];
      if (p.status === 'approved') {
        return J.row('device', p.device_name, meta.concat('Approved: sign in on the device now'), 'Approved', []);
      }
      return J.row('device', p.device_name, meta, '', [
        J.button('Approve', 'button-primary', function (el) {
          act(el, 'POST', '/pairings/' + encodeURIComponent(p.id) + '/approve', p.device_name + ' is approved. Sign in on it again within 15 minutes.');
        }),
        J.button('Deny', 'button-secondary', function (el) {
          act(el, 'POST', '/pairings/' + encodeURIComponent(p.id) + '/deny', p.device_name + ' was denied.');
        })
      ]);
    }));
    J.fill('paired-list', me.devices.map(function (p) {
      return J.row('device', p.device_name, [p.client + (p.version ? ' ' + p.version : ''), p.last_used ? 'last used ' + J.ago(p.last_used) : 'approved ' + J.ago(p.requested_at)], '', [
        J.button('Remove', 'button-secondary', function (el) {
          act(el, 'DELETE', '/devices/' + encodeURIComponent(p.id), p.device_name + ' is removed and signed out. It needs your approval to sign in again.');
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
        error('Copying was blocked. Select the text and copy it yourself.');
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
      fieldError(form, 'Enter the 6 digits the app shows.');
      return;
    }
    var undo = J.busy(form.querySelector('button[type="submit"]'));
    api('POST', '/totp/confirm', { code: code }).then(function (res) {
      undo();
      if (!res.ok) {
        if (!res.signedOut) {
          fieldError(form, res.body.error === 'invalid_code' ?
            'That code did not work. Check that the app shows “Jellyfin” and type the code it shows now.' : J.message(res));
        }
        return;
      }
      J.$('enroll').hidden = true;
      J.$('enroll-qr').removeAttribute('src');
      J.$('enroll-open').href = '#';
      secret = '';
      tell('Your authenticator app is set up. Two-factor sign-in is on.');
      if (res.body.recovery_codes && res.body.recovery_codes.length) {
        showCodes(res.body.recovery_codes);
      }
      load();
    });
  });

  // Recovery codes are shown once, right after they are made.
  var codes = [];

  function codesFor() {
    return 'Jellyfin recovery codes for ' + (me ? me.user.name : '') + ' at ' + location.host;
  }

  function codesText() {
    return [
      codesFor(),
      'Created ' + new Date().toLocaleString(),
      '',
      'Each code signs you in once if you cannot use your authenticator app.',
      ''
    ].concat(codes.map(function (c, i) { return (i + 1) + '. ' + c; })).join('\n') + '\n';
  }

  function showCodes(list) {
    codes = list.slice();
    J.$('codes-for').textContent = codesFor() + ', ' + new Date().toLocaleDateString();
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
    a.download = 'jellyfin-recovery-codes.txt';
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
      el.textContent = 'A new code can be sent in ' + J.clock(left) + '.';
    };
    var interval = setInterval(tick, 500);
    tick();
  }

  // Changes that need a current factor open a small form under their button. It takes
  // whichever factor the person has: a code from the authenticator app, a recovery
  // code, a code jfguard emails on request, or a passkey. send gets the factor as the
  // API takes it ({method, code} or {method: 'passkey', ceremony, credential}).
  function proof(slotId, trigger, title, label, cls, send) {
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
      codes.push('a code from your authenticator app');
    }
    if (has('email')) {
      codes.push('a code we email you');
    }
    if (has('recovery')) {
      codes.push('a recovery code');
    }
    var passkeys = has('passkey') && J.passkeysSupported();
    titleEl.textContent = title;
    titleEl.hidden = !title;
    input.id = slotId + '-code';
    labelEl.htmlFor = input.id;
    labelEl.textContent = codes.length ? 'Enter ' + list(codes, 'or') : 'Confirm with your passkey';
    submit.textContent = label;
    submit.classList.add(cls);
    byEmail.hidden = !has('email');
    byPasskey.hidden = !passkeys;
    if (!codes.length) {
      row.hidden = true;
      byPasskey.textContent = label + ' with a passkey';
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
        fieldError(form, 'Enter a code.');
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
        byEmail.textContent = 'Email me a new code';
        sent.textContent = 'We emailed you a code. It works for 5 minutes.';
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
    proof('recovery-proof', e.currentTarget, '', 'Get new codes', 'button-primary', function (factor) {
      return api('POST', '/recovery-codes', factor).then(function (res) {
        if (res.ok) {
          tell('New recovery codes are ready. The old ones no longer work.');
          showCodes(res.body.recovery_codes);
          load();
        }
        return res;
      });
    });
  });

  J.$('disable-start').addEventListener('click', function (e) {
    clearMessages();
    proof('disable-proof', e.currentTarget, '', 'Turn off', 'button-danger', function (factor) {
      return api('POST', '/disable', factor).then(function (res) {
        if (res.ok) {
          tell('Two-factor sign-in is off. Your password alone now signs you in.');
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
    badge.textContent = keys.length ? keys.length + (keys.length === 1 ? ' passkey' : ' passkeys') : st.enabled ? 'Not set up' : 'Unavailable';
    var text = 'Sign in with your fingerprint, face, screen lock or a security key instead of a code.';
    if (!st.enabled) {
      text = st.message + ' The server’s owner can turn them on (the webauthn settings).';
    } else if (!J.passkeysSupported()) {
      text += ' This browser cannot make passkeys here.';
    } else if (st.sign_in) {
      text += ' A passkey can also sign you in on its own, without your password.';
    }
    J.$('passkeys-text').textContent = text;
    J.$('passkey-add').hidden = !st.enabled || !J.passkeysSupported() || keys.length >= 20;
    J.fill('passkeys-list', keys.map(function (k) {
      var meta = ['Added ' + J.longDate(k.created_at), k.last_used ? 'last used ' + J.ago(k.last_used) : 'not used yet', k.synced ? 'synced' : ''];
      var li = J.row('key', k.label, meta, '', [
        J.button('Rename', 'button-secondary', function () { rename(li, k); }),
        J.button('Remove', 'button-secondary', function (el) {
          clearMessages();
          proof('passkey-proof', el, 'Remove “' + k.label + '”', 'Remove', 'button-danger', function (factor) {
            return api('POST', '/passkeys/' + encodeURIComponent(k.id) + '/remove', factor).then(function (res) {
              if (res.ok) {
                tell('“' + k.label + '” is removed: it no longer signs you in.');
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
        tell('The passkey is now called “' + label + '”.');
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
        tell('Your passkey “' + done.body.passkey.label + '” is added. Use it when Jellyfin asks for your second step, or to sign in without your password.');
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
    badge.textContent = confirmed ? 'On' : waiting ? 'Waiting for the code' : on ? 'Not set up' : 'Unavailable';
    var text = 'Get a sign-in code by email when your phone is not at hand.';
    if (confirmed) {
      text = 'Codes go to ' + e.address + '. Jellyfin can email you a sign-in code when your phone is not at hand.';
    } else if (!on) {
      text = 'Email codes are not set up on this server: it has no mail server to send them from (the smtp settings).';
    } else if (waiting) {
      text = 'We emailed a code to ' + e.address + '. Enter it to confirm the address.';
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
      fieldError(form, 'Enter your email address.');
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
      fieldError(form, 'Enter the 6 digits of the code in the email.');
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
      tell('Your email address is confirmed. Jellyfin can now email you sign-in codes.');
      load();
    });
  });

  J.$('email-resend').addEventListener('click', function (e) {
    var form = J.$('email-confirm');
    sendAddress(me.email.address, form, e.currentTarget, function () {
      var wait = form.querySelector('.wait');
      wait.textContent = 'We emailed you a new code.';
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
    proof('email-proof', e.currentTarget, 'Remove ' + me.email.address, 'Remove', 'button-danger', function (factor) {
      return api('POST', '/email/remove', factor).then(function (res) {
        if (res.ok) {
          tell('Your email address is removed: Jellyfin no longer emails you codes.');
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
      var used = a.last_used ? 'last used ' + J.ago(a.last_used) + (a.last_ip ? ' from ' + a.last_ip : '') : 'not used yet';
      return J.row('app', a.label, ['Created ' + J.longDate(a.created_at), used], '', [
        J.button('Revoke', 'button-secondary', function (el) {
          act(el, 'DELETE', '/app-passwords/' + encodeURIComponent(a.id), '“' + a.label + '” is revoked: it no longer signs anything in.');
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
      fieldError(form, 'Name the app or device it is for, e.g. “Living room TV”.');
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
      J.$('apppassword-created-heading').textContent = 'App password for “' + res.body.label + '”';
      J.$('apppassword-value').textContent = appPassword;
      J.$('apppassword-note').textContent = 'In the app, sign in with your user name, ' + me.user.name +
        ', and type this app password in the password field. It is shown only now: once you close this, it cannot be shown again.';
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
      fieldError(form, 'Type the code the TV or app shows.');
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
      tell('The code is approved: the device is signing in as you.');
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
      tell('Signed out everywhere else: ' + (r.sessions || 0) + ' sessions, ' + (r.app_passwords || 0) + ' app passwords, ' +
        (r.devices || 0) + ' devices and ' + (r.trusted_browsers || 0) + ' trusted browsers no longer work. If your password may be known, change it in Jellyfin now.');
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
