// The security-info page's behaviour: the add-method steps, the delete
// confirmation and the list refresh, over the page API. No request leaves
// this origin; device names are only ever set as text, never as HTML.
(function () {
  'use strict';
  var body = document.body;
  var user = body.getAttribute('data-user');
  var api = body.getAttribute('data-api');
  var addDialog = byId('add-dialog');
  var deleteDialog = byId('delete-dialog');
  var pending = null; // the method the delete dialog is about
  var toastTimer = 0;

  function byId(id) { return document.getElementById(id); }

  function call(method, path, payload) {
    var init = { method: method, headers: { 'Accept': 'application/json' }, cache: 'no-store', credentials: 'same-origin' };
    if (payload !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(payload);
    }
    return fetch(api + path + '?user=' + encodeURIComponent(user), init).then(function (res) {
      if (res.status === 204) { return null; }
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (!res.ok) {
          var err = new Error(data && data.error ? data.error : 'エラーが発生しました (HTTP ' + res.status + ')。');
          err.status = res.status;
          throw err;
        }
        return data;
      });
    }, function () {
      throw new Error('サンドボックスに接続できません。ボットが動いているか確認してください。');
    });
  }

  function busy(on) { body.setAttribute('data-busy', on ? 'true' : 'false'); }

  function showError(id, text) { var el = byId(id); el.textContent = text; el.hidden = false; }
  function hideError(id) { var el = byId(id); el.textContent = ''; el.hidden = true; }

  function toast(text) {
    var t = byId('toast');
    t.textContent = text;
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { t.hidden = true; }, 8000);
  }

  function render(methods) {
    var list = byId('method-list');
    Array.prototype.forEach.call(list.querySelectorAll('[data-testid="method-row"]'), function (li) {
      list.removeChild(li);
    });
    var proto = byId('method-row-template').content.firstElementChild;
    methods.forEach(function (m) {
      var li = proto.cloneNode(true);
      li.setAttribute('data-method-id', m.id);
      li.setAttribute('data-device-name', m.displayName);
      li.querySelector('[data-testid="method-device-name"]').textContent = m.displayName;
      var del = li.querySelector('[data-testid="delete-method"]');
      del.setAttribute('data-method-id', m.id);
      del.setAttribute('aria-label', m.displayName + ' を削除');
      list.appendChild(li);
    });
    byId('default-method').textContent = methods.length > 0
      ? '既定のサインイン方法: Microsoft Authenticator - 通知'
      : '既定のサインイン方法を設定します';
  }

  function refresh() {
    return call('GET', '').then(function (data) {
      hideError('page-error');
      render(data.methods || []);
    }).catch(function (e) { showError('page-error', e.message); });
  }

  // Adding a method: choose → app → qr → number.
  function showStep(name) {
    Array.prototype.forEach.call(addDialog.querySelectorAll('section[data-step]'), function (sec) {
      sec.hidden = sec.getAttribute('data-step') !== name;
    });
    addDialog.setAttribute('data-step', name);
    var focus = { choose: 'method-select', app: 'app-next', qr: 'qr-next', number: 'device-name' }[name];
    byId(focus).focus();
  }

  function twoDigits() {
    var a = new Uint32Array(1);
    window.crypto.getRandomValues(a);
    return 10 + a[0] % 90;
  }

  function register() {
    var name = byId('device-name').value.trim();
    if (name === '') { showError('add-error', 'デバイス名を入力してください。'); return; }
    var next = byId('number-next');
    next.disabled = true;
    busy(true);
    hideError('add-error');
    call('POST', '', { displayName: name }).then(function (m) {
      addDialog.close();
      return refresh().then(function () {
        toast('Microsoft Authenticator アプリが登録されました: ' + m.displayName);
      });
    }).catch(function (e) {
      showError('add-error', e.message);
    }).then(function () {
      next.disabled = false;
      busy(false);
    });
  }

  byId('add-method').addEventListener('click', function () {
    byId('method-select').value = '';
    byId('add-confirm').disabled = true;
    hideError('add-error');
    addDialog.showModal();
    showStep('choose');
  });
  byId('method-select').addEventListener('change', function () {
    byId('add-confirm').disabled = this.value !== 'authenticatorApp';
  });
  byId('add-confirm').addEventListener('click', function () { showStep('app'); });
  byId('app-next').addEventListener('click', function () { showStep('qr'); });
  byId('qr-back').addEventListener('click', function () { showStep('app'); });
  byId('qr-next').addEventListener('click', function () {
    byId('approval-number').textContent = String(twoDigits());
    showStep('number');
  });
  byId('number-back').addEventListener('click', function () { showStep('qr'); });
  byId('number-next').addEventListener('click', register);
  byId('device-name').addEventListener('keydown', function (ev) {
    if (ev.key === 'Enter') { ev.preventDefault(); register(); }
  });
  ['add-cancel', 'app-cancel'].forEach(function (id) {
    byId(id).addEventListener('click', function () { addDialog.close(); });
  });

  // Deleting a method: 削除 → 認証アプリの削除 → OK.
  byId('method-list').addEventListener('click', function (ev) {
    var btn = ev.target.closest('[data-testid="delete-method"]');
    if (!btn) { return; }
    var row = btn.closest('[data-testid="method-row"]');
    pending = { id: row.getAttribute('data-method-id'), name: row.getAttribute('data-device-name') };
    byId('delete-target').textContent = 'Microsoft Authenticator: ' + pending.name;
    hideError('delete-error');
    deleteDialog.showModal();
    byId('delete-cancel').focus();
  });
  byId('delete-ok').addEventListener('click', function () {
    if (!pending) { deleteDialog.close(); return; }
    var ok = byId('delete-ok');
    ok.disabled = true;
    busy(true);
    call('DELETE', '/' + encodeURIComponent(pending.id)).then(function () {
      deleteDialog.close();
      toast('認証アプリが削除されました: ' + pending.name);
      pending = null;
      return refresh();
    }).catch(function (e) {
      showError('delete-error', e.message);
      if (e.status === 404) { return refresh(); }
    }).then(function () {
      ok.disabled = false;
      busy(false);
    });
  });
  byId('delete-cancel').addEventListener('click', function () { pending = null; deleteDialog.close(); });

  // Graph calls (the bot) change the list too: refresh when the user comes back.
  window.addEventListener('focus', refresh);
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'visible') { refresh(); }
  });

  body.setAttribute('data-ready', 'true');
}());
