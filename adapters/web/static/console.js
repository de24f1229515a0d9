// The Baton console's only script (served as is: no build step). The page
// works without it, but for live updates: a server-sent event says the
// person's inbox (or a channel) changed, and the inbox is fetched again.
(function () {
  var as = document.body.dataset.as, box = document.getElementById('inbox');
  var picker = document.getElementById('as');
  if (picker) picker.addEventListener('change', function () { picker.form.submit(); });
  if (!box) return;
  var pending = false, seq = 0, banner = document.getElementById('pending');
  function wait(on) { pending = on; if (banner) banner.hidden = !on; }
  // Someone typing in or opening a card's form is not interrupted: the
  // update waits until they leave it.
  function busy() {
    var a = document.activeElement;
    return box.contains(a) && /INPUT|TEXTAREA|SELECT/.test(a.tagName) || box.querySelector('.actions details[open]');
  }
  // The note (the answer to what the person just did) is true of the
  // requests as they were then. The inbox is sent what it was made of, and
  // says (X-Baton-Note: stale) once one of them has changed, or, for a
  // list, a card came that the list lacks: the note then goes, but not
  // while one of its forms is being filled in.
  var note = document.getElementById('note'), noteOut = false;
  function noteQuery() {
    if (!note) return '';
    var q = '';
    if (note.dataset.seen) q += '&seen=' + encodeURIComponent(note.dataset.seen);
    if (note.dataset.since) q += '&since=' + encodeURIComponent(note.dataset.since);
    return q;
  }
  function dropNote() {
    if (!note) return;
    var a = document.activeElement;
    if (note.contains(a) && /INPUT|TEXTAREA|SELECT/.test(a.tagName) || note.querySelector('details[open]')) { noteOut = true; return; }
    note.remove();
    note = null;
  }
  if (note) {
    note.addEventListener('focusout', function () { if (noteOut) setTimeout(dropNote, 50); });
    note.addEventListener('toggle', function () { if (noteOut) dropNote(); }, true);
  }
  function refresh() {
    if (busy()) { wait(true); return; }
    wait(false);
    var mine = ++seq;
    fetch('/console/inbox?as=' + encodeURIComponent(as) + noteQuery(), {headers: {Accept: 'text/html'}}).then(function (r) {
      if (!r.ok) throw new Error('inbox: HTTP ' + r.status);
      if (r.headers.get('X-Baton-Note') === 'stale') dropNote();
      return r.text();
    }).then(function (html) {
      if (mine !== seq) return; // a later refresh is on its way
      var closed = [];
      box.querySelectorAll('details.channel:not([open])').forEach(function (d) { closed.push(d.dataset.channel); });
      box.innerHTML = html;
      closed.forEach(function (id) {
        var d = box.querySelector('details.channel[data-channel="' + id + '"]');
        if (d) d.open = false;
      });
    }).catch(function () { pending = true; }); // try again on the next change or focus change
  }
  box.addEventListener('focusout', function () { if (pending) setTimeout(refresh, 50); });
  box.addEventListener('toggle', function () { if (pending) refresh(); }, true);
  // A browser opens at most six connections to one server, and each live
  // stream holds one: a tab out of sight lets its stream go (a tab per
  // demo person would otherwise leave the seventh page, and every command,
  // waiting), and takes it again, catching up, when it is looked at.
  var es = null;
  function connect() {
    if (es) return;
    es = new EventSource('/console/events?as=' + encodeURIComponent(as));
    es.onmessage = refresh;
    // (Re)connected: catch up on what changed while the stream was down.
    es.onopen = function () { document.body.dataset.live = 'on'; refresh(); };
    es.onerror = function () { document.body.dataset.live = 'off'; };
  }
  function disconnect() {
    if (!es) return;
    es.close();
    es = null;
    document.body.dataset.live = 'off';
  }
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'hidden') disconnect(); else connect();
  });
  if (document.visibilityState !== 'hidden') connect();
})();
