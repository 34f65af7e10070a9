// memkit report: the page's first script. Any error of a later script (a library, the data, the
// drawing) is written into the page, in the #errors box at its top, so that nobody mistakes a
// half-drawn page for a whole one, and a test reading the page's DOM sees it.
(function () {
  'use strict';
  var box = document.getElementById('errors');
  function show(text) {
    var line = document.createElement('div');
    line.className = 'error';
    line.textContent = 'script error: ' + text;
    box.appendChild(line);
    box.hidden = false;
    document.documentElement.setAttribute('data-errors', String(box.childNodes.length));
  }
  window.memkitReportError = show;
  window.addEventListener('error', function (e) {
    var where = e.filename ? ' (' + (e.filename.split('/').pop() || 'page') + ':' + e.lineno + ':' + e.colno + ')' : '';
    show((e.message || String(e.error)) + where);
  });
  window.addEventListener('unhandledrejection', function (e) {
    show('unhandled rejection: ' + String(e.reason));
  });
})();
