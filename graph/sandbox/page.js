// The security-info page's behaviour: the add-method steps (Authenticator,
// another authenticator app, a passkey in Authenticator), the delete
// confirmation and the list refresh, over the page API. No request leaves
// this origin; names are only ever set as text, never as HTML.
(function () {
  'use strict';
  var body = document.body;
  var user = body.getAttribute('data-user');
  var apiRoot = body.getAttribute('data-api-root');
  var addDialog = byId('add-dialog');
  var deleteDialog = byId('delete-dialog');
  var pending = null; // what the delete dialog is about: {kind, id, done}
  var toastTimer = 0;

  function byId(id) { return document.getElementById(id); }
  function part(row, testid) { return row.querySelector('[data-testid="' + testid + '"]'); }

  // The kinds of rows in the list: the page API collection each belongs
  // to, the attribute holding its id, and the words of its delete dialog
  // and of the toast once it is deleted.
  var kinds = {
    method: {
      collection: 'methods',
      idAttr: 'data-method-id',
      title: '認証アプリの削除',
      target: function (row) { return 'Microsoft Authenticator: ' + row.getAttribute('data-device-name'); },
      done: function (row) { return '認証アプリが削除されました: ' + row.getAttribute('data-device-name'); }
    },
    passkey: {
      collection: 'passkeys',
      idAttr: 'data-passkey-id',
      title: 'パスキーの削除',
      target: function (row) { return part(row, 'passkey-kind').textContent + ': ' + row.getAttribute('data-device-name'); },
      done: function (row) { return 'パスキーが削除されました: ' + row.getAttribute('data-device-name'); }
    },
    oath: {
      collection: 'softwareOath',
      idAttr: 'data-oath-id',
      title: '認証アプリの削除',
      target: function (row) { return 'その他の認証アプリ: ' + part(row, 'oath-label').textContent; },
      done: function () { return '認証アプリが削除されました: その他の認証アプリ'; }
    }
  };

  function call(method, collection, path, payload) {
    var init = { method: method, headers: { 'Accept': 'application/json' }, cache: 'no-store', credentials: 'same-origin' };
    if (payload !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(payload);
    }
    var url = apiRoot + '/' + collection + path + '?user=' + encodeURIComponent(user);
    return fetch(url, init).then(function (res) {
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

  function cloneRow(templateId) { return byId(templateId).content.firstElementChild.cloneNode(true); }

  function methodRow(m) {
    var li = cloneRow('method-row-template');
    li.setAttribute('data-method-id', m.id);
    li.setAttribute('data-device-name', m.displayName);
    part(li, 'method-device-name').textContent = m.displayName;
    var del = part(li, 'delete-method');
    del.setAttribute('data-method-id', m.id);
    del.setAttribute('aria-label', m.displayName + ' を削除');
    return li;
  }

  function passkeyRow(p) {
    var li = cloneRow('passkey-row-template');
    li.setAttribute('data-passkey-id', p.id);
    li.setAttribute('data-device-name', p.displayName);
    li.setAttribute('data-platform', p.platform);
    part(li, 'passkey-kind').textContent = p.kind;
    part(li, 'passkey-platform-name').textContent = p.platform;
    part(li, 'passkey-device-name').textContent = p.displayName;
    var created = part(li, 'passkey-created');
    created.textContent = '登録日時: ' + p.created;
    created.setAttribute('data-created', p.createdDateTime);
    var del = part(li, 'delete-passkey');
    del.setAttribute('data-passkey-id', p.id);
    del.setAttribute('aria-label', p.displayName + ' のパスキーを削除');
    return li;
  }

  function oathRow(o) {
    var li = cloneRow('oath-row-template');
    li.setAttribute('data-oath-id', o.id);
    part(li, 'oath-label').textContent = o.label;
    var del = part(li, 'delete-oath');
    del.setAttribute('data-oath-id', o.id);
    del.setAttribute('aria-label', 'その他の認証アプリ (' + o.label + ') を削除');
    return li;
  }

  function render(data) {
    var list = byId('method-list');
    Array.prototype.forEach.call(list.querySelectorAll('li[data-kind]'), function (li) {
      list.removeChild(li);
    });
    (data.methods || []).forEach(function (m) { list.appendChild(methodRow(m)); });
    (data.passkeys || []).forEach(function (p) { list.appendChild(passkeyRow(p)); });
    (data.softwareOath || []).forEach(function (o) { list.appendChild(oathRow(o)); });
    byId('default-method').textContent = data.defaultMethod || '既定のサインイン方法を設定します';
  }

  function refresh() {
    return call('GET', 'methods', '').then(function (data) {
      hideError('page-error');
      render(data);
    }).catch(function (e) { showError('page-error', e.message); });
  }

  // Adding: choose → app → qr → number (Authenticator), app → oath (another
  // authenticator app), or choose → passkey.
  function showStep(name) {
    Array.prototype.forEach.call(addDialog.querySelectorAll('section[data-step]'), function (sec) {
      sec.hidden = sec.getAttribute('data-step') !== name;
    });
    addDialog.setAttribute('data-step', name);
    var focus = { choose: 'method-select', app: 'app-next', qr: 'qr-next', number: 'device-name', oath: 'oath-code', passkey: 'passkey-name' }[name];
    byId(focus).focus();
  }

  function twoDigits() {
    var a = new Uint32Array(1);
    window.crypto.getRandomValues(a);
    return 10 + a[0] % 90;
  }

  // submit posts a step's answer to a collection; on success it closes the
  // dialog, refreshes the list and says what was registered.
  function submit(buttonId, errorId, collection, payload, said) {
    var next = byId(buttonId);
    next.disabled = true;
    busy(true);
    hideError(errorId);
    call('POST', collection, '', payload).then(function (m) {
      addDialog.close();
      return refresh().then(function () { toast(said(m)); });
    }).catch(function (e) {
      showError(errorId, e.message);
    }).then(function () {
      next.disabled = false;
      busy(false);
    });
  }

  function register() {
    var name = byId('device-name').value.trim();
    if (name === '') { showError('add-error', 'デバイス名を入力してください。'); return; }
    submit('number-next', 'add-error', 'methods', { displayName: name }, function (m) {
      return 'Microsoft Authenticator アプリが登録されました: ' + m.displayName;
    });
  }

  function registerOath() {
    if (!/^[0-9]{6}$/.test(byId('oath-code').value.trim())) {
      showError('oath-error', 'アプリに表示される 6 桁のコードを入力してください。');
      return;
    }
    submit('oath-next', 'oath-error', 'softwareOath', {}, function () {
      return '認証アプリが登録されました: その他の認証アプリ';
    });
  }

  function registerPasskey() {
    var name = byId('passkey-name').value.trim();
    if (name === '') { showError('passkey-error', 'デバイス名を入力してください。'); return; }
    submit('passkey-next', 'passkey-error', 'passkeys', { displayName: name, platform: byId('passkey-platform').value }, function (p) {
      return 'パスキーが登録されました: ' + p.displayName;
    });
  }

  function onEnter(id, fn) {
    byId(id).addEventListener('keydown', function (ev) {
      if (ev.key === 'Enter') { ev.preventDefault(); fn(); }
    });
  }

  byId('add-method').addEventListener('click', function () {
    byId('method-select').value = '';
    byId('add-confirm').disabled = true;
    ['add-error', 'oath-error', 'passkey-error'].forEach(hideError);
    addDialog.showModal();
    showStep('choose');
  });
  byId('method-select').addEventListener('change', function () {
    byId('add-confirm').disabled = this.value !== 'authenticatorApp' && this.value !== 'passkey';
  });
  byId('add-confirm').addEventListener('click', function () {
    showStep(byId('method-select').value === 'passkey' ? 'passkey' : 'app');
  });
  byId('app-next').addEventListener('click', function () { showStep('qr'); });
  byId('qr-back').addEventListener('click', function () { showStep('app'); });
  byId('qr-next').addEventListener('click', function () {
    byId('approval-number').textContent = String(twoDigits());
    showStep('number');
  });
  byId('number-back').addEventListener('click', function () { showStep('qr'); });
  byId('number-next').addEventListener('click', register);
  onEnter('device-name', register);
  byId('use-other-app').addEventListener('click', function () {
    byId('oath-code').value = '';
    hideError('oath-error');
    showStep('oath');
  });
  byId('oath-back').addEventListener('click', function () { showStep('app'); });
  byId('oath-next').addEventListener('click', registerOath);
  onEnter('oath-code', registerOath);
  byId('passkey-back').addEventListener('click', function () { showStep('choose'); });
  byId('passkey-next').addEventListener('click', registerPasskey);
  onEnter('passkey-name', registerPasskey);
  ['add-cancel', 'app-cancel'].forEach(function (id) {
    byId(id).addEventListener('click', function () { addDialog.close(); });
  });

  // Deleting: 削除 → the kind's 「…の削除」 → OK.
  byId('method-list').addEventListener('click', function (ev) {
    var btn = ev.target.closest('button[data-testid^="delete-"]');
    var row = btn && btn.closest('li[data-kind]');
    var kind = row && kinds[row.getAttribute('data-kind')];
    if (!kind) { return; }
    pending = { kind: kind, id: row.getAttribute(kind.idAttr), done: kind.done(row) };
    byId('delete-title').textContent = kind.title;
    byId('delete-target').textContent = kind.target(row);
    hideError('delete-error');
    deleteDialog.showModal();
    byId('delete-cancel').focus();
  });
  byId('delete-ok').addEventListener('click', function () {
    if (!pending) { deleteDialog.close(); return; }
    var ok = byId('delete-ok');
    ok.disabled = true;
    busy(true);
    call('DELETE', pending.kind.collection, '/' + encodeURIComponent(pending.id)).then(function () {
      deleteDialog.close();
      toast(pending.done);
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
