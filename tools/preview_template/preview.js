// The offline preview's behaviour: maths (KaTeX), diagrams (mermaid) and search, all from local files.
document.addEventListener('DOMContentLoaded', function () {
  var main = document.querySelector('main');
  if (window.renderMathInElement && main) {
    renderMathInElement(main, {
      delimiters: [{left: '$$', right: '$$', display: true}, {left: '\\[', right: '\\]', display: true},
                   {left: '$', right: '$', display: false}, {left: '\\(', right: '\\)', display: false}],
      throwOnError: false});
  }
  if (window.mermaid && document.querySelector('pre.mermaid')) {
    mermaid.initialize({startOnLoad: false, theme: 'neutral', securityLevel: 'strict'});
    mermaid.run({querySelector: 'pre.mermaid'});
  }
  var box = document.getElementById('ftb-search'), list = document.getElementById('ftb-results');
  if (!box || !window.FTB_SEARCH) return;
  function esc(s) { var d = document.createElement('div'); d.textContent = s; return d.innerHTML; }
  box.addEventListener('input', function () {
    var terms = box.value.toLowerCase().split(/\s+/).filter(Boolean);
    if (!terms.length) { list.hidden = true; list.innerHTML = ''; return; }
    var hits = FTB_SEARCH.filter(function (e) {
      var hay = (e.page + ' ' + e.section + ' ' + e.text).toLowerCase();
      return terms.every(function (t) { return hay.indexOf(t) >= 0; });
    }).slice(0, 15);
    list.innerHTML = hits.length ? hits.map(function (e) {
      var i = e.text.toLowerCase().indexOf(terms[0]), snip = e.text.slice(Math.max(0, i - 40), i + 100);
      return '<a href="' + FTB_BASE + e.url + '"><b>' + esc(e.section) + '</b> <span>' + esc(e.page) + '</span><br><small>' + esc(snip) + '</small></a>';
    }).join('') : '<p>No match.</p>';
    list.hidden = false;
  });
  box.addEventListener('keydown', function (ev) {
    if (ev.key === 'Enter') { var a = list.querySelector('a'); if (a) window.location.href = a.href; }
    if (ev.key === 'Escape') { box.value = ''; list.hidden = true; }
  });
});
