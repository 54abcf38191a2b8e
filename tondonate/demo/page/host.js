// tondonate demo host page: plays Telegram Web's side of the Mini App protocol.
//
// The Mini App (its own origin, in the iframe) runs the official
// telegram-web-app.js. Inside an iframe it posts
//   window.parent.postMessage(JSON.stringify({eventType, eventData}), '*')
// and receives events the same way from its parent
// (https://core.telegram.org/api/web-events). This page answers like Telegram:
// theme, viewport and safe areas on request, a payment sheet on
// web_app_open_invoice, a share sheet on web_app_open_tg_link, a back button.
// Plain JS, no build step, no external requests.
(function () {
  'use strict';

  // Telegram Web's light and dark themes (what it sends as theme_params).
  const THEMES = {
    light: {
      bg_color: '#ffffff', text_color: '#000000', hint_color: '#707579', link_color: '#3390ec',
      button_color: '#3390ec', button_text_color: '#ffffff', secondary_bg_color: '#f4f4f5',
      header_bg_color: '#ffffff', bottom_bar_bg_color: '#ffffff', accent_text_color: '#3390ec',
      section_bg_color: '#ffffff', section_header_text_color: '#707579', section_separator_color: '#e7e7e7',
      subtitle_text_color: '#707579', destructive_text_color: '#e53935',
    },
    dark: {
      bg_color: '#212121', text_color: '#ffffff', hint_color: '#aaaaaa', link_color: '#8774e1',
      button_color: '#8774e1', button_text_color: '#ffffff', secondary_bg_color: '#0f0f0f',
      header_bg_color: '#212121', bottom_bar_bg_color: '#212121', accent_text_color: '#8774e1',
      section_bg_color: '#212121', section_header_text_color: '#aaaaaa', section_separator_color: '#0f0f0f',
      subtitle_text_color: '#aaaaaa', destructive_text_color: '#ee686f',
    },
  };
  const NO_INSETS = { top: 0, bottom: 0, left: 0, right: 0 };

  const $ = (id) => document.getElementById(id);
  const el = {
    acting: document.querySelector('[data-testid="acting-user"]'),
    avatar: $('acting-avatar'),
    name: $('acting-name'),
    sub: $('acting-sub'),
    select: $('user-select'),
    newUser: $('new-user'),
    newFriend: $('new-friend'),
    log: $('event-log'),
    phone: $('phone'),
    header: $('tg-header'),
    title: $('tg-title'),
    close: $('tg-close'),
    back: $('tg-back'),
    reload: $('tg-reload'),
    screen: $('screen'),
    loading: $('loading'),
    closed: $('closed'),
    reopen: $('reopen'),
    sheet: $('pay-sheet'),
    invTitle: $('inv-title'),
    invDesc: $('inv-desc'),
    invAmount: $('inv-amount'),
    status: $('sheet-status'),
    pay: $('pay-button'),
    cancel: $('pay-cancel'),
    toasts: $('toasts'),
    botStatus: $('bot-status'),
  };

  const state = {
    cfg: null, // GET /demo/api/state
    appOrigin: '',
    theme: window.matchMedia && matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light',
    launch: null, // the last /demo/api/launch answer
    user: null, // the Telegram user we act as
    frame: null,
    headerKey: 'bg_color',
    headerColor: null,
    invoice: null, // the invoice whose sheet is open
    invoiceFailed: false,
    paying: false,
    seen: {}, // user id -> bot messages already shown
  };

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const fmt = (n) => Number(n).toLocaleString('ru-RU');

  async function api(method, path, body) {
    const res = await fetch(path, {
      method,
      headers: body ? { 'Content-Type': 'application/json' } : undefined,
      body: body ? JSON.stringify(body) : undefined,
    });
    let data = {};
    try {
      data = await res.json();
    } catch (e) {
      /* no JSON body */
    }
    if (!res.ok) throw new Error(data.error || res.status + ' ' + res.statusText);
    return data;
  }

  // ------------------------------------------------------------------ event log
  function logEvent(fromApp, type, data) {
    const li = document.createElement('li');
    li.className = fromApp ? 'in' : 'out';
    li.textContent = (fromApp ? 'app → ' : 'tg → ') + type + ' ';
    if (data !== undefined && data !== null && data !== '') {
      const span = document.createElement('span');
      span.textContent = JSON.stringify(data).slice(0, 140);
      li.appendChild(span);
    }
    el.log.appendChild(li);
    while (el.log.children.length > 80) el.log.firstChild.remove();
    el.log.scrollTop = el.log.scrollHeight;
  }

  // ------------------------------------------------------------------ protocol
  function send(eventType, eventData) {
    const win = state.frame && state.frame.contentWindow;
    if (!win) return;
    win.postMessage(JSON.stringify({ eventType, eventData }), state.appOrigin);
    logEvent(false, eventType, eventData);
  }

  window.addEventListener('message', (event) => {
    if (!state.frame || event.source !== state.frame.contentWindow) return;
    let msg;
    try {
      msg = typeof event.data === 'string' ? JSON.parse(event.data) : event.data;
    } catch (e) {
      return;
    }
    if (!msg || typeof msg.eventType !== 'string') return;
    let data = msg.eventData;
    if (typeof data === 'string' && data) {
      try {
        data = JSON.parse(data);
      } catch (e) {
        /* keep the string */
      }
    }
    logEvent(true, msg.eventType, data);
    const handler = handlers[msg.eventType];
    if (handler) handler(data || {});
  });

  function sendViewport() {
    const r = el.screen.getBoundingClientRect();
    send('viewport_changed', {
      height: Math.round(r.height), width: Math.round(r.width), is_expanded: true, is_state_stable: true,
    });
  }

  const handlers = {
    web_app_ready() {
      el.loading.hidden = true;
    },
    iframe_will_reload() {
      el.loading.hidden = false;
    },
    web_app_request_theme() {
      send('theme_changed', { theme_params: THEMES[state.theme] });
    },
    web_app_request_viewport: sendViewport,
    web_app_expand: sendViewport,
    web_app_request_safe_area() {
      send('safe_area_changed', NO_INSETS);
    },
    web_app_request_content_safe_area() {
      send('content_safe_area_changed', NO_INSETS);
    },
    web_app_set_header_color(d) {
      if (d.color) {
        state.headerColor = d.color;
        state.headerKey = null;
      } else if (d.color_key) {
        state.headerKey = d.color_key;
        state.headerColor = null;
      }
      paintHeader();
    },
    web_app_set_background_color(d) {
      if (d.color) el.screen.style.background = d.color;
    },
    web_app_setup_back_button(d) {
      el.back.hidden = !d.is_visible;
      el.close.hidden = !!d.is_visible;
    },
    web_app_trigger_haptic_feedback() {
      el.phone.classList.remove('buzz');
      void el.phone.offsetWidth; // restart the animation
      el.phone.classList.add('buzz');
    },
    web_app_open_invoice(d) {
      if (d.slug) openInvoice(d.slug);
    },
    web_app_open_tg_link(d) {
      if (d.path_full) openTgLink(d.path_full);
    },
    web_app_open_link(d) {
      if (d.url) linkToast('Opens in the browser', d.url, null);
    },
    web_app_close() {
      closeApp();
    },
  };

  // ------------------------------------------------------------------ theme & chrome
  function isDark(hex) {
    const m = /^#?([0-9a-f]{6})$/i.exec(hex || '');
    if (!m) return false;
    const n = parseInt(m[1], 16);
    return 0.2126 * ((n >> 16) & 255) + 0.7152 * ((n >> 8) & 255) + 0.0722 * (n & 255) < 128;
  }

  function paintHeader() {
    const theme = THEMES[state.theme];
    const color = state.headerColor || theme[state.headerKey] || theme.bg_color;
    el.header.style.background = color;
    el.header.style.color = isDark(color) ? '#ffffff' : '#000000';
  }

  function setTheme(name, notify) {
    state.theme = name;
    document.documentElement.dataset.theme = name;
    for (const b of document.querySelectorAll('[data-theme-choice]')) {
      b.setAttribute('aria-pressed', String(b.dataset.themeChoice === name));
    }
    paintHeader();
    if (notify) send('theme_changed', { theme_params: THEMES[name] });
  }

  // ------------------------------------------------------------------ notifications
  function toast({ testid, title, text, link, actions, timeout }) {
    const t = document.createElement('div');
    t.className = 'toast';
    t.dataset.testid = testid || 'toast';
    if (title) {
      const b = document.createElement('b');
      b.textContent = title;
      t.appendChild(b);
    }
    if (link) {
      const c = document.createElement('code');
      c.dataset.testid = (testid || 'toast') + '-link';
      c.textContent = link;
      t.appendChild(c);
    }
    if (text) {
      const p = document.createElement('div');
      p.className = 'toast-text';
      p.textContent = text;
      t.appendChild(p);
    }
    if (actions && actions.length) {
      const row = document.createElement('div');
      row.className = 'toast-actions';
      for (const a of actions) {
        const btn = document.createElement('button');
        btn.type = 'button';
        btn.className = 'btn' + (a.accent ? ' btn-accent' : '');
        btn.textContent = a.label;
        if (a.testid) btn.dataset.testid = a.testid;
        btn.addEventListener('click', () => {
          t.remove();
          a.run();
        });
        row.appendChild(btn);
      }
      t.appendChild(row);
    }
    const x = document.createElement('button');
    x.type = 'button';
    x.className = 'toast-close';
    x.setAttribute('aria-label', 'Dismiss');
    x.textContent = '×';
    x.addEventListener('click', () => t.remove());
    t.appendChild(x);
    el.toasts.appendChild(t);
    while (el.toasts.children.length > 3) el.toasts.firstChild.remove();
    if (timeout) setTimeout(() => t.remove(), timeout);
    return t;
  }

  function startAppParam(link) {
    try {
      const u = new URL(/^https?:\/\//.test(link) ? link : 'https://' + link);
      return u.hostname === 't.me' ? u.searchParams.get('startapp') : null;
    } catch (e) {
      return null;
    }
  }

  function linkToast(title, link, text) {
    const start = startAppParam(link);
    const actions = [];
    if (start != null) {
      actions.push({ label: 'Open as a new friend', accent: true, testid: 'open-as-friend', run: () => launchNew(start) });
    }
    if (navigator.clipboard) {
      actions.push({ label: 'Copy link', run: () => navigator.clipboard.writeText(link).catch(() => {}) });
    }
    toast({ testid: 'share-toast', title, link, text, actions });
  }

  function openTgLink(pathFull) {
    const url = new URL(pathFull, 'https://t.me');
    if (url.pathname === '/share/url' || url.pathname === '/share') {
      // Telegram would show its chat picker; here the link can be opened as the friend would.
      linkToast('Share with a friend', url.searchParams.get('url') || '', url.searchParams.get('text') || '');
    } else {
      linkToast('Telegram link', 'https://t.me' + url.pathname + url.search, null);
    }
  }

  async function watchBotMessages(user) {
    for (let i = 0; i < 12; i++) {
      await sleep(500);
      const seen = state.seen[user.id] || 0;
      const r = await api('GET', '/demo/api/messages?user_id=' + user.id + '&after=' + seen).catch(() => null);
      if (r && r.messages.length) {
        state.seen[user.id] = r.count;
        if (state.user && state.user.id === user.id) {
          for (const m of r.messages) {
            toast({ testid: 'bot-message', title: state.cfg.bot_name + ' (bot chat)', text: m.text, timeout: 8000 });
          }
        }
        return;
      }
    }
  }

  // ------------------------------------------------------------------ payments
  function sheetStatus(text, kind) {
    el.status.hidden = !text;
    el.status.textContent = text || '';
    el.status.className = 'sheet-status' + (kind ? ' ' + kind : '');
  }

  async function openInvoice(slug) {
    if (state.invoice) {
      send('invoice_closed', { slug, status: 'failed' }); // one payment sheet at a time
      return;
    }
    const frame = state.frame;
    let inv;
    try {
      inv = await api('GET', '/demo/api/invoice/' + encodeURIComponent(slug));
    } catch (e) {
      toast({ title: 'Invoice not found', text: e.message, timeout: 6000 });
      send('invoice_closed', { slug, status: 'failed' });
      return;
    }
    if (frame !== state.frame) return; // the user switched meanwhile
    state.invoice = inv;
    state.invoiceFailed = false;
    el.invTitle.textContent = inv.title;
    el.invDesc.textContent = inv.description;
    el.invAmount.textContent = fmt(inv.amount);
    el.pay.hidden = false;
    el.pay.disabled = false;
    el.pay.textContent = 'Pay ★ ' + fmt(inv.amount);
    el.cancel.disabled = false;
    el.cancel.textContent = 'Cancel';
    sheetStatus('', '');
    el.sheet.hidden = false;
    el.pay.focus();
  }

  function closeInvoice(status) {
    const inv = state.invoice;
    if (!inv) return;
    state.invoice = null;
    el.sheet.hidden = true;
    send('invoice_closed', { slug: inv.slug, status });
  }

  async function pay() {
    const inv = state.invoice;
    if (!inv || state.paying) return;
    const user = state.user;
    state.paying = true;
    el.pay.disabled = true;
    el.cancel.disabled = true;
    sheetStatus('Paying…', '');
    let result;
    try {
      result = await api('POST', '/demo/api/pay', { slug: inv.slug, user_id: user.id });
    } catch (e) {
      result = { status: 'failed', error_message: e.message };
    }
    state.paying = false;
    el.cancel.disabled = false;
    if (state.invoice !== inv) return;
    if (result.status === 'paid') {
      sheetStatus('✓ Paid', 'ok');
      setTimeout(() => {
        if (state.invoice === inv) closeInvoice('paid');
      }, 400);
      void watchBotMessages(user);
      setTimeout(refreshUsers, 2500);
    } else {
      // Telegram shows the bot's refusal in the sheet; closing it reports "failed".
      state.invoiceFailed = true;
      sheetStatus(result.error_message || 'Payment failed', 'error');
      el.pay.hidden = true;
      el.cancel.textContent = 'Close';
    }
  }

  function cancelInvoice() {
    if (state.paying) return;
    closeInvoice(state.invoiceFailed ? 'failed' : 'cancelled');
  }

  // ------------------------------------------------------------------ launching
  function initial(name) {
    return (name || '?').trim().charAt(0).toUpperCase() || '?';
  }

  function showActing() {
    const u = state.user;
    const name = [u.first_name, u.last_name].filter(Boolean).join(' ') || (u.username ? '@' + u.username : 'User ' + u.id);
    el.acting.dataset.userId = String(u.id);
    el.acting.dataset.startParam = state.launch.start_param || '';
    el.avatar.textContent = initial(name);
    el.name.textContent = name;
    const bits = ['id ' + u.id];
    if (u.username) bits.push('@' + u.username);
    if (u.language_code) bits.push(u.language_code);
    if (state.launch.start_param) bits.push('start_param ' + state.launch.start_param);
    el.sub.textContent = bits.join(' · ');
    el.newFriend.textContent = 'New friend of ' + (u.first_name || name);
    el.select.value = String(u.id);
  }

  function start(launch) {
    state.launch = launch;
    state.user = launch.user;
    state.invoice = null;
    state.paying = false;
    el.sheet.hidden = true;
    el.toasts.replaceChildren();
    state.headerKey = 'bg_color';
    state.headerColor = null;
    paintHeader();
    el.screen.style.background = '';
    el.back.hidden = true;
    el.close.hidden = false;
    el.closed.hidden = true;
    el.loading.hidden = false;

    const params = [
      ['tgWebAppData', launch.init_data],
      ['tgWebAppVersion', state.cfg.tg_version],
      ['tgWebAppPlatform', state.cfg.tg_platform],
      ['tgWebAppThemeParams', JSON.stringify(THEMES[state.theme])],
    ];
    if (launch.start_param) params.push(['tgWebAppStartParam', launch.start_param]);
    const frame = document.createElement('iframe');
    frame.id = 'miniapp';
    frame.title = 'tondonate Mini App';
    frame.dataset.testid = 'miniapp';
    frame.allow = 'clipboard-write';
    frame.addEventListener('load', () => {
      // The app says web_app_ready itself; do not hide it forever if it never does.
      setTimeout(() => {
        if (state.frame === frame) el.loading.hidden = true;
      }, 3000);
    });
    frame.src = state.appOrigin + '/#' + params.map(([k, v]) => k + '=' + encodeURIComponent(v)).join('&');
    if (state.frame) state.frame.remove();
    state.frame = frame;
    el.screen.prepend(frame);
    showActing();
  }

  async function launch(body) {
    try {
      start(await api('POST', '/demo/api/launch', body));
    } catch (e) {
      toast({ title: 'Could not open the Mini App', text: e.message, timeout: 8000 });
      return;
    }
    void refreshUsers();
  }

  function launchNew(startParam) {
    return launch(startParam ? { new: true, start_param: startParam } : { new: true });
  }

  function closeApp() {
    if (state.invoice) closeInvoice('cancelled');
    if (state.frame) state.frame.remove();
    state.frame = null;
    el.loading.hidden = true;
    el.closed.hidden = false;
  }

  async function refreshUsers() {
    const r = await api('GET', '/demo/api/users').catch(() => null);
    if (!r) return;
    const groups = document.createDocumentFragment();
    for (const g of r.groups) {
      const og = document.createElement('optgroup');
      og.label = g.title;
      for (const u of g.users) {
        const o = document.createElement('option');
        o.value = String(u.id);
        // Words, not the 👥 emoji: an <option> cannot hold an icon, and a system font may lack the glyph.
        const invited = u.referrals + (u.referrals === 1 ? ' referral' : ' referrals');
        o.textContent = u.name + (u.username ? ' @' + u.username : '') + ' · ' + u.tons + ' · ' + invited;
        og.appendChild(o);
      }
      groups.appendChild(og);
    }
    el.select.replaceChildren(groups);
    if (state.user) el.select.value = String(state.user.id);
  }

  // ------------------------------------------------------------------ wiring
  el.select.addEventListener('change', () => {
    const id = Number(el.select.value);
    if (id && (!state.user || id !== state.user.id)) void launch({ user_id: id });
  });
  el.newUser.addEventListener('click', () => void launchNew(null));
  el.newFriend.addEventListener('click', () => {
    if (state.user) void launchNew('ref_' + state.user.id);
  });
  for (const b of document.querySelectorAll('[data-theme-choice]')) {
    b.addEventListener('click', () => setTheme(b.dataset.themeChoice, true));
  }
  el.back.addEventListener('click', () => send('back_button_pressed'));
  el.close.addEventListener('click', closeApp);
  el.reopen.addEventListener('click', () => state.user && void launch({ user_id: state.user.id }));
  el.reload.addEventListener('click', () => state.launch && start(state.launch));
  el.pay.addEventListener('click', () => void pay());
  el.cancel.addEventListener('click', cancelInvoice);
  el.sheet.addEventListener('click', (e) => {
    if (e.target === el.sheet) cancelInvoice();
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && state.invoice) cancelInvoice();
  });
  window.addEventListener('resize', () => state.frame && sendViewport());

  // The bot starts in the background after the page: until it is up, paying waits
  // for it (the API holds an invoice request up to 15 s), so show where it stands.
  function showBot(cfg) {
    const stateName = cfg.bot_failed ? 'failed' : cfg.bot_ready ? 'ready' : 'starting';
    el.botStatus.dataset.state = stateName;
    el.botStatus.textContent = cfg.bot_failed
      ? 'Bot could not start: ' + cfg.bot_failed
      : cfg.bot_ready ? 'Bot online' : 'Bot starting… (payments wait for it)';
    return stateName === 'starting';
  }

  async function watchBot() {
    while (showBot(state.cfg)) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const cfg = await api('GET', '/demo/api/state').catch(() => null);
      if (cfg) state.cfg = cfg;
    }
  }

  async function main() {
    setTheme(state.theme, false);
    try {
      state.cfg = await api('GET', '/demo/api/state');
    } catch (e) {
      toast({ title: 'The demo server is not answering', text: e.message });
      return;
    }
    state.appOrigin = location.protocol + '//' + location.hostname + ':' + state.cfg.app_port;
    el.title.textContent = state.cfg.bot_name;
    void watchBot();
    await refreshUsers();
    if (state.cfg.default_user_id) await launch({ user_id: state.cfg.default_user_id });
    else await launchNew(null);
  }

  void main();
})();
