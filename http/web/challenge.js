// The challenge page: the second step of a sign-in that jfguard holds. The server
// renders the methods this person has; this script sends the code, shows what went
// wrong, counts down a lockout, and on success hands the session to the web app.
(function () {
  'use strict';

  var J = window.jfguard;
  var root = J.$('challenge');
  if (!root || !root.querySelector('form.method')) {
    return; // The expired page is plain HTML.
  }
  var base = '/jfguard/api/challenge/' + encodeURIComponent(root.dataset.challenge);
  var methods = root.dataset.methods.split(' ').filter(Boolean);
  var forms = Array.prototype.slice.call(root.querySelectorAll('form.method'));
  var alertBox = J.$('alert');
  var current = null;
  var lockedUntil = 0;
  var finished = false;

  function formOf(method) {
    return J.$('method-' + method);
  }

  function inputOf(form) {
    return form.querySelector('input[data-code]') || form.querySelector('button[type="submit"]');
  }

  function trustOf(form) {
    return form.querySelector('[data-trust]');
  }

  // show switches to a method, carrying the "trust this browser" choice along.
  function show(method, moveFocus) {
    var before = current && trustOf(formOf(current));
    forms.forEach(function (f) { f.hidden = f.dataset.method !== method; });
    root.querySelectorAll('[data-alt]').forEach(function (li) { li.hidden = li.dataset.alt === method; });
    var form = formOf(method);
    if (before && trustOf(form)) {
      trustOf(form).checked = before.checked;
    }
    current = method;
    J.hide(alertBox);
    if (moveFocus) {
      J.focus(inputOf(form));
    }
  }

  function setDisabled(disabled) {
    forms.forEach(function (f) {
      f.querySelectorAll('input, button').forEach(function (el) { el.disabled = disabled; }); // i18n: not text (a selector)
    });
  }

  // lock shows the lockout with a live countdown and blocks the forms until it ends.
  function lock(seconds) {
    lockedUntil = Date.now() + seconds * 1000;
    var box = J.$('lockout');
    var timer = J.$('lockout-timer');
    var minutes = Math.ceil(seconds / 60);
    // The countdown itself is not a live region (it would be read every second):
    // the lockout is announced once, in words.
    J.$('announce').textContent = J.tn('js.challenge.locked_announce', minutes);
    J.hide(alertBox);
    box.hidden = false;
    forms.forEach(function (f) {
      var input = f.querySelector('input[data-code]');
      if (input) {
        input.value = '';
        input.removeAttribute('aria-invalid');
      }
    });
    setDisabled(true);
    var tick = function () {
      var left = (lockedUntil - Date.now()) / 1000;
      timer.textContent = J.clock(left);
      if (left <= 0) {
        clearInterval(interval);
        box.hidden = true;
        J.$('announce').textContent = '';
        lockedUntil = 0;
        setDisabled(false);
        J.hide(alertBox);
        J.focus(inputOf(formOf(current)));
      }
    };
    var interval = setInterval(tick, 250);
    tick();
  }

  // expire replaces the forms with the way back to the sign-in page.
  function expire(text) {
    finished = true;
    ['alert', 'lockout', 'alt-methods', 'cancel'].forEach(function (id) { J.$(id).hidden = true; });
    forms.forEach(function (f) { f.hidden = true; });
    root.querySelector('.lead').hidden = true;
    J.$('heading').hidden = true;
    if (text) {
      J.$('expired-text').textContent = text;
    }
    J.$('expired').hidden = false;
    J.focus(J.$('expired-heading'));
  }

  function fail(form, text) {
    J.showAlert(alertBox, text);
    var input = form.querySelector('input[data-code]');
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      input.select();
      J.focus(input);
    }
  }

  // verify sends one factor and acts on the answer. Setting up an authenticator on
  // the sign-in goes to its own endpoint and shows the recovery codes before
  // continuing.
  function verify(form, payload) {
    var button = form.querySelector('button[type="submit"]');
    var done = J.busy(button);
    var enrolling = form.dataset.method === 'enroll_totp';
    var url = base + '/verify';
    if (enrolling) {
      url = base + '/enroll/confirm';
      payload = { code: payload.code };
    } else {
      payload.trust_browser = trustOf(form).checked;
      payload.device_id = J.deviceId();
    }
    return J.request('POST', url, payload).then(function (res) {
      if (res.ok && res.body.auth && enrolling) {
        finished = true;
        showRecoveryCodes(res.body.recovery_codes || [], res.body.auth);
        return null;
      }
      if (res.ok && res.body.auth) {
        finished = true;
        button.textContent = J.t('js.challenge.signed_in');
        return J.signedIn(res.body.auth);
      }
      done();
      switch (res.body.error) {
        case 'challenge_not_found':
        case 'challenge_burned':
          expire(J.message(res));
          return null;
        case 'locked':
          lock(Number(res.headers.get('Retry-After')) || 60);
          return null;
        case 'rate_limited':
          fail(form, J.message(res));
          button.disabled = true;
          setTimeout(function () { button.disabled = lockedUntil > 0; }, (res.body.retry_after || 5) * 1000);
          return null;
      }
      fail(form, J.message(res));
      return null;
    });
  }

  function submitCode(form) {
    var input = form.querySelector('input[data-code]');
    var method = form.dataset.method;
    var code = method === 'recovery' ? input.value.trim() : J.digits(input.value);
    if (method === 'recovery' && code === '') {
      fail(form, J.t('js.challenge.enter_recovery_code'));
      return;
    }
    if (method !== 'recovery' && !/^[0-9]{6}$/.test(code)) {
      fail(form, J.t('js.challenge.enter_six_digits'));
      return;
    }
    verify(form, { method: method, code: code });
  }

  forms.forEach(function (form) {
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      if (finished || lockedUntil) {
        return;
      }
      J.hide(alertBox);
      if (form.dataset.method === 'passkey') {
        passkey(form);
      } else {
        submitCode(form);
      }
    });
    var input = form.querySelector('input[data-code]');
    if (input) {
      input.addEventListener('input', function () { input.removeAttribute('aria-invalid'); });
    }
  });

  root.querySelectorAll('[data-switch]').forEach(function (b) {
    b.addEventListener('click', function () { show(b.dataset.switch, true); });
  });

  // Email codes: the page asks jfguard to send one, then the code is verified like
  // any other. When too many were sent, the button waits, with a countdown, until
  // jfguard says a new one can go.
  var send = root.querySelector('[data-send-email]');
  function waitToSend(seconds) {
    var until = Date.now() + seconds * 1000;
    var wait = J.$('email-wait');
    send.disabled = true;
    wait.hidden = false;
    var tick = function () {
      var left = (until - Date.now()) / 1000;
      if (left <= 0 || finished) {
        clearInterval(interval);
        wait.hidden = true;
        wait.textContent = '';
        send.disabled = lockedUntil > 0;
        return;
      }
      wait.textContent = J.t('js.challenge.email_wait', { Time: J.clock(left) });
    };
    var interval = setInterval(tick, 500);
    tick();
  }
  if (send) {
    send.addEventListener('click', function () {
      var form = formOf('email');
      var done = J.busy(send);
      J.request('POST', base + '/email', {}).then(function (res) {
        done();
        if (res.status === 429 && res.body.retry_after) {
          J.$('email-sent').textContent = '';
          J.hide(alertBox);
          waitToSend(res.body.retry_after);
          return;
        }
        if (!res.ok) {
          fail(form, J.message(res, J.t('js.challenge.email_not_sent')));
          return;
        }
        send.textContent = J.t('js.challenge.send_new_code');
        J.$('email-sent').textContent = J.message(res, J.t('js.challenge.email_sent'));
        J.hide(alertBox);
        J.focus(form.querySelector('input[data-code]'));
      });
    });
  }

  // Passkeys: jfguard hands out WebAuthn options bound to this challenge, the
  // browser signs them with one of the person's passkeys, and the answer goes back
  // with the ceremony's id to be verified like a code.
  function passkey(form) {
    if (!J.passkeysSupported()) {
      fail(form, J.t('js.challenge.passkeys_unsupported'));
      return;
    }
    var button = form.querySelector('button[type="submit"]');
    var done = J.busy(button);
    var ceremony = '';
    J.request('POST', base + '/passkey', {}).then(function (res) {
      if (!res.ok || !res.body.publicKey) {
        var e = new Error(J.message(res, J.t('js.challenge.passkeys_unavailable')));
        e.res = res;
        throw e;
      }
      ceremony = res.body.ceremony;
      return J.getPasskey(res.body.publicKey);
    }).then(function (credential) {
      done();
      return verify(form, { method: 'passkey', ceremony: ceremony, credential: credential });
    }).catch(function (err) {
      done();
      if (err && err.res && (err.res.body.error === 'challenge_not_found' || err.res.body.error === 'challenge_burned')) {
        expire(J.message(err.res));
        return;
      }
      if (err && err.res && err.res.body.error === 'locked') {
        lock(Number(err.res.headers.get('Retry-After')) || 60);
        return;
      }
      fail(form, J.passkeyProblem(err, J.t('js.challenge.passkey_failed')));
    });
  }

  // Setting up an authenticator on the sign-in: fetch a new secret and its QR code.
  function beginEnroll() {
    J.request('POST', base + '/enroll', {}).then(function (res) {
      if (!res.ok || !res.body.secret) {
        if (res.body.error === 'challenge_not_found' || res.body.error === 'challenge_burned') {
          expire(J.message(res));
          return;
        }
        fail(formOf('enroll_totp'), J.message(res, J.t('js.challenge.enroll_failed')));
        return;
      }
      var img = J.$('enroll-qr');
      img.src = res.body.qr;
      img.hidden = false;
      J.$('enroll-secret').textContent = res.body.secret.replace(/(.{4})/g, '$1 ').trim();
    });
  }

  function showRecoveryCodes(codes, auth) {
    J.$('enroll-setup').hidden = true;
    root.querySelector('.lead').hidden = true;
    var list = J.$('enroll-codes');
    codes.forEach(function (c) {
      var li = document.createElement('li');
      li.textContent = c;
      list.appendChild(li);
    });
    J.$('enroll-done').hidden = false;
    J.focus(J.$('enroll-done-heading'));
    J.$('enroll-continue').addEventListener('click', function () { J.signedIn(auth); });
  }

  if (methods[0] === 'enroll_totp') {
    J.$('heading').textContent = J.t('js.challenge.one_more_step');
    beginEnroll();
  }
  show(methods[0], false);
  J.focus(inputOf(formOf(methods[0])));
  var expiresIn = Number(root.dataset.expiresIn);
  if (expiresIn > 0) {
    setTimeout(function () {
      if (!finished) {
        expire();
      }
    }, expiresIn * 1000);
  }
  var lockedFor = Number(root.dataset.lockedFor);
  if (lockedFor > 0) {
    lock(lockedFor);
  }
}());
