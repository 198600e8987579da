// equilibrage dashboard: live regions over one WebSocket, confirmations, slider mirroring.
// No library and no inline script (the CSP allows only this file). Pages work without it; it
// only keeps them fresh.
(function () {
  'use strict';

  var body = document.body;
  // Read by the end-to-end test: the last event type seen and how many regions were refreshed.
  body.dataset.liveRefreshes = body.dataset.liveRefreshes || '0';

  // Which regions (the `<name>` of `data-live-src="/partials/<name>"`) each event refreshes.
  var TOPIC_REGIONS = {
    positions: ['positions', 'health'],
    opportunities: ['opportunities', 'recent-opportunities'],
    plugins: ['plugins', 'health'],
    system: ['health']
  };

  function topicOf(type) {
    if (type === 'position_update' || type === 'trade_executed') return 'positions';
    if (type === 'new_opportunity' || type === 'scan_completed') return 'opportunities';
    if (type.indexOf('plugin_') === 0 || type === 'rules_source') return 'plugins';
    if (type === 'error') return 'system';
    return null;
  }

  function regionName(el) {
    var src = el.getAttribute('data-live-src') || '';
    var path = src.split('?')[0];
    return path.slice(path.lastIndexOf('/') + 1);
  }

  function regions() {
    return Array.prototype.slice.call(document.querySelectorAll('[data-live-src]'));
  }

  function goToLogin() {
    location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search);
  }

  // Whether a response says the session is gone: 401, or a redirect that ended on the login page.
  function loggedOut(r) {
    return r.status === 401 || (r.redirected && new URL(r.url, location.href).pathname === '/login');
  }

  // A key for a form control that survives a re-render: its form's action and its name.
  function controlKey(el) {
    if (!el.name || !el.form) return null;
    return el.form.getAttribute('action') + '\u0000' + el.name;
  }

  // What the person typed in a region, so a refresh does not take it away.
  function saveTyping(region) {
    var typed = [];
    var controls = region.querySelectorAll('input, select, textarea');
    for (var i = 0; i < controls.length; i++) {
      var c = controls[i];
      if (c.type === 'hidden' || c.type === 'checkbox' || c.type === 'radio') continue;
      var key = controlKey(c);
      var changed = c.tagName === 'SELECT' ? false : c.value !== c.defaultValue;
      if (key && (changed || c === document.activeElement)) {
        typed.push({ key: key, value: c.value, focused: c === document.activeElement, changed: changed });
      }
    }
    return typed;
  }

  function restoreTyping(region, typed) {
    if (!typed.length) return;
    var controls = region.querySelectorAll('input, select, textarea');
    for (var i = 0; i < controls.length; i++) {
      var c = controls[i];
      var key = controlKey(c);
      for (var j = 0; j < typed.length; j++) {
        if (typed[j].key !== key) continue;
        if (typed[j].changed) c.value = typed[j].value;
        if (typed[j].focused) c.focus();
      }
    }
  }

  // Makes `to`'s attributes `from`'s, changing only those that differ.
  function syncAttributes(from, to) {
    var i;
    for (i = from.attributes.length - 1; i >= 0; i--) {
      var name = from.attributes[i].name;
      if (!to.hasAttribute(name)) from.removeAttribute(name);
    }
    for (i = 0; i < to.attributes.length; i++) {
      var a = to.attributes[i];
      if (from.getAttribute(a.name) !== a.value) from.setAttribute(a.name, a.value);
    }
  }

  // Brings `from`'s children to `to`'s in place: a node of the same kind and tag is kept and
  // updated, only what differs is touched. A refresh several times a second (live prices) then
  // leaves the button under the pointer, the focus and any half-typed value where they are; a
  // wholesale innerHTML swap would lose a click made while it happened.
  function morph(from, to) {
    var a = from.firstChild;
    var b = to.firstChild;
    while (b) {
      var nextB = b.nextSibling;
      if (!a) {
        from.appendChild(b);
      } else {
        var nextA = a.nextSibling;
        if (a.nodeType !== b.nodeType || a.nodeName !== b.nodeName) {
          from.replaceChild(b, a);
        } else if (a.nodeType === 1) {
          syncAttributes(a, b);
          morph(a, b);
        } else if (a.nodeValue !== b.nodeValue) {
          a.nodeValue = b.nodeValue;
        }
        a = nextA;
      }
      b = nextB;
    }
    while (a) {
      var next = a.nextSibling;
      from.removeChild(a);
      a = next;
    }
  }

  function bump() {
    body.dataset.liveRefreshes = String((parseInt(body.dataset.liveRefreshes, 10) || 0) + 1);
  }

  // One fetch in flight per region; events arriving meanwhile ask for one more fetch right after,
  // so a burst costs two fetches and the region is never older than one fetch.
  function refresh(el) {
    var st = el.liveState || (el.liveState = { busy: false, again: false });
    if (st.busy) {
      st.again = true;
      return;
    }
    st.busy = true;
    st.again = false;
    fetch(el.getAttribute('data-live-src'), {
      credentials: 'same-origin',
      headers: { Accept: 'text/html' }
    })
      .then(function (r) {
        if (loggedOut(r)) {
          goToLogin();
          return null;
        }
        var type = r.headers.get('Content-Type') || '';
        return type.indexOf('text/html') === 0 ? r.text() : null;
      })
      .then(function (html) {
        if (html === null || html === undefined) return;
        var typed = saveTyping(el);
        var fresh = document.createElement('template');
        fresh.innerHTML = html;
        morph(el, fresh.content);
        restoreTyping(el, typed);
        bump();
      })
      .catch(function () {
        // Offline or the server restarting: the reconnect refreshes everything.
      })
      .then(function () {
        st.busy = false;
        if (st.again) refresh(el);
      });
  }

  function refreshNamed(names) {
    regions().forEach(function (el) {
      if (names.indexOf(regionName(el)) >= 0) refresh(el);
    });
  }

  function refreshAll() {
    regions().forEach(refresh);
  }

  // Live status in the header: `live` while the WebSocket is open, `offline` otherwise.
  function setStatus(live) {
    var el = document.getElementById('live-status');
    if (!el) return;
    var state = live ? 'live' : 'offline';
    el.textContent = state;
    el.setAttribute('data-state', state);
  }

  var MIN_DELAY = 500;
  var MAX_DELAY = 5000;
  var delay = MIN_DELAY;
  var connectedBefore = false;

  function onMessage(e) {
    var msg;
    try {
      msg = JSON.parse(e.data);
    } catch (err) {
      return;
    }
    if (!msg || typeof msg.type !== 'string') return;
    body.dataset.lastEvent = msg.type;
    if (msg.type === 'lagged') {
      // Events were missed: only a full refresh is sure to be right.
      refreshAll();
      return;
    }
    var topic = topicOf(msg.type);
    if (topic) refreshNamed(TOPIC_REGIONS[topic]);
  }

  function connect() {
    var scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    var ws;
    try {
      ws = new WebSocket(scheme + location.host + '/api/ws');
    } catch (err) {
      retry();
      return;
    }
    ws.onopen = function () {
      setStatus(true);
      delay = MIN_DELAY;
      ['subscribe_positions', 'subscribe_opportunities', 'subscribe_plugins'].forEach(function (t) {
        ws.send(JSON.stringify({ type: t }));
      });
      // Whatever happened while the socket was down is fetched once, now.
      if (connectedBefore) refreshAll();
      connectedBefore = true;
    };
    ws.onmessage = onMessage;
    var opened = false;
    ws.addEventListener('open', function () {
      opened = true;
    });
    ws.onclose = function () {
      setStatus(false);
      // A handshake refused outright may be an expired session: one cheap request tells.
      if (!opened) {
        fetch('/partials/health', { credentials: 'same-origin' })
          .then(function (r) {
            if (loggedOut(r)) goToLogin();
          })
          .catch(function () {});
      }
      retry();
    };
    ws.onerror = function () {
      // `close` follows and schedules the retry.
    };
  }

  function retry() {
    var wait = delay;
    delay = Math.min(delay * 2, MAX_DELAY);
    // A reconnect after a failure counts as one: regions are refreshed once it opens.
    connectedBefore = true;
    setTimeout(connect, wait);
  }

  // Forms that do something hard to undo ask first.
  document.addEventListener('submit', function (e) {
    var form = e.target;
    var question = form && form.getAttribute && form.getAttribute('data-confirm');
    if (question && !window.confirm(question)) e.preventDefault();
  }, true);

  // Settings: a slider (`data-mirror="<name>"`, no name) and its number box (`id="<name>"`, the
  // value posted) follow each other.
  document.addEventListener('input', function (e) {
    var el = e.target;
    if (!el || !el.getAttribute) return;
    var mirror = el.getAttribute('data-mirror');
    if (mirror) {
      var box = document.getElementById(mirror);
      if (box) box.value = el.value;
      return;
    }
    if (el.type === 'number' && el.id) {
      var slider = document.getElementById(el.id + '-range');
      if (slider && slider.getAttribute('data-mirror') === el.id && el.value !== '') slider.value = el.value;
    }
  });

  // The Lab's plugin upload: the file's bytes go to `data-upload` + its name (PUT, with the
  // session's CSRF token); the page then shows it among the choices, or says why not. The page
  // is reloaded once no upload is under way: a reload due to an earlier upload would cut off a
  // later one in flight, and the page it brings would lack the later plugin and its answer.
  var uploading = 0;
  var reloadWhenIdle = function () {
    setTimeout(function () { if (uploading === 0) location.reload(); }, 600);
  };
  document.addEventListener('submit', function (e) {
    var form = e.target;
    var url = form && form.getAttribute && form.getAttribute('data-upload');
    if (!url) return;
    e.preventDefault();
    var input = form.querySelector('input[type=file]');
    var status = form.querySelector('.upload-status');
    var file = input && input.files && input.files[0];
    var say = function (text) { if (status) status.textContent = text; };
    if (!file) {
      say('Choose a .wasm file first.');
      return;
    }
    var meta = document.querySelector('meta[name="csrf-token"]');
    say('Checking ' + file.name + '…');
    uploading += 1;
    var ended = false;
    var end = function () {
      if (!ended) {
        ended = true;
        uploading -= 1;
      }
    };
    fetch(url + encodeURIComponent(file.name), {
      method: 'PUT',
      credentials: 'same-origin',
      headers: { 'X-CSRF-Token': meta ? meta.content : '', 'Content-Type': 'application/wasm' },
      body: file
    })
      .then(function (r) {
        if (loggedOut(r)) {
          goToLogin();
          return null;
        }
        return r.json().then(function (body) { return { ok: r.ok, body: body }; });
      })
      .then(function (answer) {
        end();
        if (!answer) return;
        if (answer.ok) {
          say(file.name + ' added: ' + answer.body.plugin.plugin + ' (' + answer.body.plugin.kind + ').');
          reloadWhenIdle();
        } else {
          say(answer.body.error || 'Refused.');
        }
      })
      .catch(function () {
        end();
        say('The upload did not reach the bot.');
      });
  });

  // A transaction hash's Copy button puts the whole hash on the clipboard and says so.
  document.addEventListener('click', function (e) {
    var button = e.target && e.target.closest && e.target.closest('button.copy[data-copy]');
    if (!button) return;
    var text = button.getAttribute('data-copy');
    var label = button.textContent;
    var say = function (what) {
      button.textContent = what;
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { say('Copied'); }, function () { say('Copy failed'); });
    } else {
      say('Copy failed');
    }
  });

  // Regions that hold something in progress (a lab job: `data-poll="on"` inside) are fetched
  // again every second until the server says nothing runs there any more.
  setInterval(function () {
    regions().forEach(function (el) {
      if (el.querySelector('[data-poll="on"]')) refresh(el);
    });
  }, 1000);

  setStatus(false);
  connect();
})();
