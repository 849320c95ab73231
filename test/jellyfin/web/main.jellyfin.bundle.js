// The stand-in's web client. It signs in the way Jellyfin's web app does, so
// that a script injected into the page can wrap its requests and hand it
// credentials: it calls window.fetch at request time, sends the web app's
// Authorization header, and keeps its sign-in in localStorage under the web
// app's keys (jellyfin_credentials and _deviceId2).
(function () {
    'use strict';

    var CREDENTIALS_KEY = 'jellyfin_credentials';
    var DEVICE_ID_KEY = '_deviceId2';
    var APP_NAME = 'Jellyfin Web';
    var APP_VERSION = '12.0.0';
    // ConnectionMode.Manual in the web app's connection manager.
    var CONNECTION_MODE_MANUAL = 2;

    var server = null;
    var generation = 0;

    function element(id) {
        return document.getElementById(id);
    }

    // The web app's device id: base64 of the user agent and a timestamp,
    // with '=' replaced by '1', kept for the life of the browser profile.
    function deviceId() {
        var id = localStorage.getItem(DEVICE_ID_KEY);
        if (!id) {
            id = btoa([navigator.userAgent, Date.now()].join('|')).replace(/=/g, '1');
            localStorage.setItem(DEVICE_ID_KEY, id);
        }
        return id;
    }

    function deviceName() {
        var ua = navigator.userAgent;
        if (/Edg\//.test(ua)) {
            return 'Edge Chromium';
        }
        if (/Firefox\//.test(ua)) {
            return 'Firefox';
        }
        if (/Chrome\//.test(ua)) {
            return 'Chrome';
        }
        if (/Safari\//.test(ua)) {
            return 'Safari';
        }
        return 'Web Browser';
    }

    // Each value is encodeURIComponent-encoded and quoted, as the web app
    // has done since 2026.
    function authorizationHeader(token) {
        var parts = [
            ['Client', APP_NAME],
            ['Device', deviceName()],
            ['DeviceId', deviceId()],
            ['Version', APP_VERSION]
        ];
        if (token) {
            parts.push(['Token', token]);
        }
        return 'MediaBrowser ' + parts.map(function (part) {
            return part[0] + '="' + encodeURIComponent(part[1]) + '"';
        }).join(', ');
    }

    function request(method, path, token, body) {
        var headers = {
            'Accept': 'application/json',
            'Authorization': authorizationHeader(token)
        };
        var init = { method: method, headers: headers };
        if (body !== undefined) {
            headers['Content-Type'] = 'application/json';
            init.body = JSON.stringify(body);
        }
        return window.fetch(path, init);
    }

    function readCredentials() {
        try {
            var credentials = JSON.parse(localStorage.getItem(CREDENTIALS_KEY) || '{}');
            if (credentials && Array.isArray(credentials.Servers)) {
                return credentials;
            }
        } catch (e) {
            // A corrupt entry is treated as no entry, as the web app does.
        }
        return { Servers: [] };
    }

    function serverEntry(credentials) {
        for (var i = 0; i < credentials.Servers.length; i++) {
            if (credentials.Servers[i].Id === server.Id) {
                return credentials.Servers[i];
            }
        }
        return null;
    }

    function updateServerEntry(update) {
        var credentials = readCredentials();
        var entry = serverEntry(credentials);
        if (!entry) {
            entry = { Id: server.Id };
            credentials.Servers.push(entry);
        }
        update(entry);
        localStorage.setItem(CREDENTIALS_KEY, JSON.stringify(credentials));
    }

    function show(view) {
        ['loading', 'login', 'home'].forEach(function (name) {
            element('view-' + name).hidden = name !== view;
        });
        document.body.setAttribute('data-view', view);
    }

    function showLogin() {
        show('login');
        element('txtManualName').focus();
    }

    function showHome(userName) {
        element('home-user').textContent = 'Signed in as ' + userName;
        element('login-error').hidden = true;
        show('home');
    }

    function showLoginError(message) {
        var error = element('login-error');
        error.textContent = message;
        error.hidden = false;
    }

    // Shows home when the stored token still works, the sign-in form
    // otherwise. Only the latest check may change the view.
    function refresh() {
        if (!server) {
            return;
        }
        var run = ++generation;
        var entry = serverEntry(readCredentials());
        if (!entry || !entry.AccessToken) {
            showLogin();
            return;
        }
        request('GET', '/Users/Me', entry.AccessToken).then(function (response) {
            if (!response.ok) {
                if (run === generation) {
                    showLogin();
                }
                return null;
            }
            return response.json().then(function (user) {
                if (run === generation) {
                    showHome(user.Name);
                }
            });
        }).catch(function () {
            if (run === generation) {
                showLogin();
            }
        });
    }

    function signIn(event) {
        event.preventDefault();
        var button = document.querySelector('.button-submit');
        var password = element('txtManualPassword');
        element('login-error').hidden = true;
        button.disabled = true;
        request('POST', '/Users/AuthenticateByName', null, {
            Username: element('txtManualName').value,
            Pw: password.value
        }).then(function (response) {
            if (response.status === 200) {
                return response.json().then(function (result) {
                    updateServerEntry(function (entry) {
                        entry.Name = server.ServerName;
                        entry.ManualAddress = window.location.origin;
                        entry.DateLastAccessed = Date.now();
                        entry.LastConnectionMode = CONNECTION_MODE_MANUAL;
                        entry.UserId = result.User.Id;
                        entry.AccessToken = result.AccessToken;
                    });
                    password.value = '';
                    generation++;
                    showHome(result.User.Name);
                });
            }
            if (response.status === 401) {
                showLoginError('Invalid username or password.');
            } else if (response.status === 403) {
                showLoginError('You are not allowed to sign in from here.');
            } else {
                showLoginError('Unable to connect to the server.');
            }
            return null;
        }).catch(function () {
            showLoginError('Unable to connect to the server.');
        }).then(function () {
            button.disabled = false;
        });
    }

    function signOut() {
        var entry = serverEntry(readCredentials());
        var token = entry && entry.AccessToken;
        var done = function () {
            updateServerEntry(function (current) {
                current.AccessToken = null;
                current.UserId = null;
            });
            generation++;
            showLogin();
        };
        if (!token) {
            done();
            return;
        }
        request('POST', '/Sessions/Logout', token).then(done, done);
    }

    function start() {
        element('login-form').addEventListener('submit', signIn);
        element('btn-signout').addEventListener('click', signOut);
        window.addEventListener('storage', function (event) {
            if (event.key === null || event.key === CREDENTIALS_KEY) {
                refresh();
            }
        });
        window.addEventListener('jfguard:credentials', refresh);

        window.fetch('/System/Info/Public', { headers: { 'Accept': 'application/json' } }).then(function (response) {
            if (!response.ok) {
                throw new Error('status ' + response.status);
            }
            return response.json();
        }).then(function (info) {
            server = info;
            element('server-name').textContent = info.ServerName;
            document.title = info.ServerName;
            refresh();
        }).catch(function () {
            element('loading-message').textContent = 'Unable to connect to the server.';
        });
    }

    if (document.readyState === 'loading') {
        document.addEventListener('DOMContentLoaded', start);
    } else {
        start();
    }
}());
