// jfguard's own sign-in page, with a password or a passkey alone. The password goes
// through Jellyfin's own sign-in, as the web app sends it and marked as coming from a
// browser: jfguard then either lets the session through or answers with its
// challenge, and the challenge page asks for the code. (The one-call script API,
// /jfguard/api/login, answers "wrong username, password or code" alike, so it cannot
// tell a page that a code is needed.)
(function () {
  'use strict';

  var J = window.jfguard;
  var form = J.$('login-form');
  var alertBox = J.$('alert');
  var user = J.$('username');
  var password = J.$('password');

  function fail(text, field) {
    J.showAlert(alertBox, text);
    field.setAttribute('aria-invalid', 'true');
    J.focus(field);
  }

  [user, password].forEach(function (el) {
    el.addEventListener('input', function () { el.removeAttribute('aria-invalid'); });
  });

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    J.hide(alertBox);
    if (!user.value.trim()) {
      fail(J.t('js.login.enter_username'), user);
      return;
    }
    var button = form.querySelector('button[type="submit"]');
    var done = J.busy(button);
    J.request('POST', '/Users/AuthenticateByName', { Username: user.value.trim(), Pw: password.value }, {
      Authorization: J.authorization('jfguard', ''),
      'X-Jfguard-Client': 'web'
    }).then(function (res) {
      var challenge = res.headers.get('X-Jfguard-Challenge');
      if (res.status === 401 && challenge && challenge.indexOf('/jfguard/') === 0) {
        location.assign(challenge);
        return null;
      }
      if (res.ok && res.body.AccessToken) {
        return J.signedIn(res.body);
      }
      done();
      password.value = '';
      if (res.status === 401 || res.status === 400) {
        fail(J.t('js.login.wrong_password'), password);
      } else if (res.status === 403) {
        fail(J.t('js.login.not_from_here'), user);
      } else if (res.status === 429) {
        fail(J.t('js.login.too_many'), password);
      } else {
        fail(res.status === 0 ? J.message(res) : J.t('js.login.no_answer'), password);
      }
      return null;
    });
  });

  // Passkey sign-in: the passkey alone signs in, and jfguard hands the session to
  // the web app as the challenge page does.
  var passkeyButton = J.$('passkey-button');
  if (passkeyButton) {
    passkeyButton.addEventListener('click', function () {
      J.hide(alertBox);
      var done = J.busy(passkeyButton);
      J.passkeySignIn().then(function (problem) {
        if (problem) {
          done();
          J.showAlert(alertBox, problem);
        }
      });
    });
  }

  // A provider's sign-in came back verified: finish it with the web app's device
  // headers, as a passkey sign-in does, and hand the session to the web app.
  var oidcFinish = J.$('oidc-finish');
  if (oidcFinish) {
    J.oidcSignIn(oidcFinish.getAttribute('data-handoff')).then(function (problem) {
      if (problem) {
        J.hide(oidcFinish);
        J.showAlert(alertBox, problem);
      }
    });
    return;
  }

  J.focus(user);
}());
