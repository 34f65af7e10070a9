// memkit report: draws the page from the JSON in #memkit-data (written by
// tools/memkit/profile_html.cpp) with d3 and d3-flame-graph, both inline in the page. Every
// piece of data goes into the document as text (textContent, d3's .text()), never as markup.
// Each part that draws adds its name to <body data-rendered="...">; a part that fails reports
// its error in #errors (errors.js) and the others still draw.
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('memkit-data').textContent);
  var rendered = [];

  function part(name, draw) {
    try {
      draw();
      rendered.push(name);
      document.body.setAttribute('data-rendered', rendered.join(' '));
    } catch (e) {
      window.memkitReportError(name + ': ' + (e && e.stack ? e.stack.split('\n')[0] : String(e)));
    }
  }

  // Binary units, as the rest of memkit prints them.
  var UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  function bytes(n) {
    if (n === null || n === undefined) return '–';
    var i = 0;
    var v = n;
    while (Math.abs(v) >= 1024 && i < UNITS.length - 1) { v /= 1024; i++; }
    if (i === 0) return String(Math.round(v)) + ' B';
    return v.toFixed(Math.abs(v) < 10 ? 2 : Math.abs(v) < 100 ? 1 : 0) + ' ' + UNITS[i];
  }
  var count = d3.format(',');
  function percent(part, whole) {
    return whole > 0 ? (100 * part / whole).toFixed(part / whole < 0.1 ? 2 : 1) + ' %' : '–';
  }
  function maxOf(values) {
    var m = null;
    values.forEach(function (v) { if (v !== null && (m === null || v > m)) m = v; });
    return m;
  }
  // Axis ticks at round numbers of one binary unit (0, 16 MiB, 32 MiB, ...).
  function byteTicks(max) {
    var i = 0;
    var unit = 1;
    while (max / unit >= 1024 && i < UNITS.length - 1) { unit *= 1024; i++; }
    return d3.ticks(0, max / unit, 6).map(function (t) { return { value: t * unit, label: t + ' ' + UNITS[i] }; });
  }

  var name = data.dir.split('/').pop() || data.dir;
  document.getElementById('profile-name').textContent = name;
  document.title = 'memkit profile: ' + name;

  // --- summary cards ---------------------------------------------------------------------------
  part('summary', function () {
    var tl = data.timeline;
    var heapPeak = maxOf(tl.heap);
    var rssPeak = maxOf(tl.rss);
    var duration = tl.time.length ? tl.time[tl.time.length - 1] : null;
    var cards = [
      ['peak heap', bytes(heapPeak), 'bytes in use at most (timeline.csv)'],
      ['peak RSS', bytes(rssPeak), 'resident at most (timeline.csv)'],
      ['live at the peak', bytes(data.peak.value), count(data.peak_stacks) + ' stacks, sampled (peak.folded)'],
      ['live at exit', bytes(data.exit.value), count(data.exit_stacks) + ' stacks, sampled (heap.folded)'],
      ['run time', duration === null ? '–' : duration.toFixed(duration < 10 ? 2 : 1) + ' s', count(tl.time.length) + ' samples (timeline.csv)'],
      ['allocation sites', count(data.sites.length), 'sites.csv']
    ];
    var box = d3.select('#summary');
    cards.forEach(function (c) {
      var card = box.append('div').attr('class', 'card').attr('title', c[2]);
      card.append('div').attr('class', 'label').text(c[0]);
      card.append('div').attr('class', 'value').text(c[1]);
      card.append('div').attr('class', 'hint').text(c[2]);
    });
  });

  // --- timeline --------------------------------------------------------------------------------
  var palette = d3.schemeTableau10;
  function siteColor(i) { return palette[i % palette.length]; }

  part('timeline', function () {
    var tl = data.timeline;
    var host = d3.select('#timeline');
    if (!tl.time.length) {
      host.append('p').attr('class', 'empty').text('timeline.csv has no samples.');
      return;
    }
    var series = [
      { name: 'heap: bytes in use', values: tl.heap, color: '#1f2937', width: 2.5, cls: 'heap' },
      { name: 'RSS of the process', values: tl.rss, color: '#9ca3af', width: 2, dash: '6 4', cls: 'rss' }
    ];
    tl.sites.forEach(function (s, i) {
      series.push({ name: s, values: tl.values[i], color: siteColor(i), width: 1.5, cls: 'site' });
    });
    var width = Math.max(640, host.node().clientWidth || 1100);
    var margin = { top: 14, right: 24, bottom: 44, left: 84 };
    var plotHeight = 320;
    var legendRow = 20;
    var legendTop = margin.top + plotHeight + margin.bottom;
    var height = legendTop + legendRow * series.length + 8;
    var x = d3.scaleLinear().domain(d3.extent(tl.time)).range([margin.left, width - margin.right]);
    if (x.domain()[0] === x.domain()[1]) x.domain([x.domain()[0], x.domain()[0] + 1]);
    var ymax = 0;
    series.forEach(function (s) { ymax = Math.max(ymax, maxOf(s.values) || 0); });
    var ticks = byteTicks(ymax || 1);
    var top = Math.max(ymax, ticks.length ? ticks[ticks.length - 1].value : 1) || 1;
    var y = d3.scaleLinear().domain([0, top]).range([margin.top + plotHeight, margin.top]);
    var svg = host.append('svg').attr('id', 'timeline-svg').attr('width', width).attr('height', height)
      .attr('viewBox', '0 0 ' + width + ' ' + height).attr('role', 'img')
      .attr('aria-label', 'heap and RSS over time');
    svg.append('g').attr('class', 'grid').selectAll('line').data(ticks).join('line')
      .attr('x1', margin.left).attr('x2', width - margin.right)
      .attr('y1', function (t) { return y(t.value); }).attr('y2', function (t) { return y(t.value); });
    svg.append('g').attr('class', 'axis').attr('transform', 'translate(0,' + (margin.top + plotHeight) + ')')
      .call(d3.axisBottom(x).ticks(Math.min(10, width / 110)).tickFormat(function (t) { return t + ' s'; }));
    svg.append('g').attr('class', 'axis').attr('transform', 'translate(' + margin.left + ',0)')
      .call(d3.axisLeft(y).tickValues(ticks.map(function (t) { return t.value; }))
        .tickFormat(function (v, i) { return ticks[i].label; }));
    svg.append('text').attr('class', 'axis-title').attr('x', (margin.left + width - margin.right) / 2)
      .attr('y', margin.top + plotHeight + 38).attr('text-anchor', 'middle').text('time since start');
    var line = d3.line().defined(function (v) { return v !== null; })
      .x(function (v, i) { return x(tl.time[i]); }).y(function (v) { return y(v); });
    // Sites first, so that heap and RSS stay on top.
    series.slice(2).concat(series.slice(0, 2)).forEach(function (s) {
      var path = svg.append('path').attr('class', 'line ' + s.cls).attr('fill', 'none')
        .attr('stroke', s.color).attr('stroke-width', s.width).attr('d', line(s.values));
      if (s.dash) path.attr('stroke-dasharray', s.dash);
      path.append('title').text(s.name);
    });
    var legend = svg.append('g').attr('class', 'legend');
    series.forEach(function (s, i) {
      var g = legend.append('g').attr('transform', 'translate(' + margin.left + ',' + (legendTop + i * legendRow) + ')');
      g.append('line').attr('x1', 0).attr('x2', 26).attr('y1', 0).attr('y2', 0).attr('stroke', s.color)
        .attr('stroke-width', Math.max(2, s.width + 1)).attr('stroke-dasharray', s.dash || null);
      var maxLabel = Math.floor((width - margin.left - 160) / 7);
      var label = s.name.length > maxLabel ? s.name.slice(0, maxLabel - 1) + '…' : s.name;
      g.append('text').attr('x', 34).attr('y', 4).attr('class', i < 2 ? 'legend-main' : 'legend-site').text(label);
      g.append('text').attr('x', width - margin.left - margin.right).attr('y', 4).attr('text-anchor', 'end')
        .attr('class', 'legend-value').text('max ' + bytes(maxOf(s.values)));
      g.append('title').text(s.name);
    });
    // Hover: a rule at the nearest sample and the values there.
    var rule = svg.append('line').attr('class', 'rule').attr('y1', margin.top).attr('y2', margin.top + plotHeight)
      .style('display', 'none');
    var tip = host.append('div').attr('class', 'tip').style('display', 'none');
    svg.append('rect').attr('class', 'overlay').attr('x', margin.left).attr('y', margin.top)
      .attr('width', width - margin.left - margin.right).attr('height', plotHeight)
      .attr('fill', 'transparent')
      .on('pointermove', function (event) {
        var p = d3.pointer(event);
        var i = d3.bisectCenter(tl.time, x.invert(p[0]));
        rule.attr('x1', x(tl.time[i])).attr('x2', x(tl.time[i])).style('display', null);
        tip.selectAll('*').remove();
        tip.append('div').attr('class', 'tip-time').text(tl.time[i] + ' s');
        series.forEach(function (s) {
          var row = tip.append('div');
          row.append('span').attr('class', 'swatch').style('background', s.color);
          row.append('span').text(bytes(s.values[i]) + '  ');
          row.append('span').attr('class', 'tip-name').text(s.name.length > 70 ? s.name.slice(0, 69) + '…' : s.name);
        });
        var left = x(tl.time[i]) + 16;
        if (left > width - 420) left = Math.max(0, x(tl.time[i]) - 420);
        tip.style('display', null).style('left', left + 'px').style('top', (margin.top + 8) + 'px');
      })
      .on('pointerleave', function () { rule.style('display', 'none'); tip.style('display', 'none'); });
  });

  // --- flame graph -----------------------------------------------------------------------------
  var chart = null;
  // Frames in the greens and blues of d3's YlGnBu scheme, the same name always the same colour;
  // frames that match a search in amber.
  function frameColor(d) {
    if (d.highlight) return '#f59e0b';
    var h = 0;
    var name = d.data.name;
    for (var i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
    return d3.interpolateYlGnBu(0.22 + 0.33 * (h % 1000) / 1000);
  }
  var shown = null;
  function drawFlame(which) {
    var tree = data[which];
    var host = d3.select('#flame');
    host.selectAll('*').remove();
    d3.select('#show-peak').attr('aria-pressed', String(which === 'peak'));
    d3.select('#show-exit').attr('aria-pressed', String(which === 'exit'));
    d3.select('#flame-details').text('\u00a0');
    shown = which;
    var total = tree.value;
    var pruned = data[which + '_pruned'];
    d3.select('#flame-total').text((which === 'peak' ? 'live at the peak: ' : 'live at exit: ') + bytes(total) +
      ' (' + count(total) + ' bytes, sampled)' +
      (pruned ? '; ' + count(pruned) + (pruned === 1 ? ' frame' : ' frames') + ' under 0.001 % of the bytes left out' : ''));
    if (!total) {
      chart = null;
      host.append('p').attr('class', 'empty').text(which === 'peak'
        ? 'peak.folded holds no stacks: nothing was sampled live at the peak.'
        : 'heap.folded holds no stacks: nothing sampled was still live at exit.');
      return;
    }
    var width = Math.max(640, host.node().clientWidth || 1100);
    chart = flamegraph.default()
      .width(width)
      .cellHeight(20)
      .minFrameSize(2)
      .transitionDuration(0)
      .sort(true)
      .title('')
      .setColorMapper(frameColor)
      .setDetailsElement(document.getElementById('flame-details'))
      .setLabelHandler(function (d) {
        return d.data.name + ': ' + bytes(d.value) + ' (' + percent(d.value, total) + ' of live bytes)';
      });
    // Drawn at once: d3-flame-graph puts the frames' widths and labels in through transitions
    // (a new frame's width with d3's default 250 ms), which a printing or headless browser may
    // never run to their end. A second update with a duration of 0 replaces them with ones that
    // are due now, and d3.timerFlush() runs those now rather than on the next animation frame.
    // Zooming afterwards animates.
    host.datum(tree).call(chart);
    chart.update();
    d3.timerFlush();
    chart.transitionDuration(300);
    host.select('svg').attr('id', 'flame-svg');
    var term = document.getElementById('flame-search').value;
    if (term) chart.search(term);
  }
  part('flamegraph', function () {
    drawFlame(window.location.hash === '#exit' ? 'exit' : 'peak');
    d3.select('#show-peak').on('click', function () { if (shown !== 'peak') drawFlame('peak'); });
    d3.select('#show-exit').on('click', function () { if (shown !== 'exit') drawFlame('exit'); });
    d3.select('#flame-reset').on('click', function () { if (chart) chart.resetZoom(); });
    d3.select('#flame-search').on('input', function () {
      if (!chart) return;
      if (this.value) chart.search(this.value); else chart.clear();
    });
  });

  // --- sites table -----------------------------------------------------------------------------
  part('sites', function () {
    var columns = [
      { key: 'rank', title: '#', num: true },
      { key: 'function', title: 'function' },
      { key: 'where', title: 'file:line' },
      { key: 'peak_bytes', title: 'peak bytes', num: true, bytes: true },
      { key: 'peak_objects', title: 'peak objects', num: true },
      { key: 'live_bytes', title: 'live bytes at exit', num: true, bytes: true },
      { key: 'live_objects', title: 'live objects', num: true },
      { key: 'alloc_bytes', title: 'allocated bytes', num: true, bytes: true },
      { key: 'alloc_objects', title: 'allocated objects', num: true }
    ];
    var peakTotal = 0;
    var rows = data.sites.map(function (s, i) {
      peakTotal += s.peak_bytes;
      var r = Object.assign({}, s);
      r.rank = i + 1;
      r.where = s.file ? s.file + (s.line ? ':' + s.line : '') : '';
      return r;
    });
    var table = d3.select('#sites');
    var head = table.append('thead').append('tr');
    var body = table.append('tbody');
    var sortKey = 'rank';
    var ascending = true;
    function fill() {
      rows.sort(function (a, b) {
        var va = a[sortKey], vb = b[sortKey];
        var c = typeof va === 'number' ? va - vb : String(va).localeCompare(String(vb));
        return ascending ? c : -c;
      });
      body.selectAll('tr').remove();
      rows.forEach(function (r) {
        var tr = body.append('tr');
        columns.forEach(function (c) {
          var td = tr.append('td').attr('class', (c.num ? 'num ' : '') + 'col-' + c.key);
          var v = r[c.key];
          if (c.bytes) {
            td.text(bytes(v)).attr('title', count(v) + ' bytes');
            if (c.key === 'peak_bytes' && peakTotal > 0) {
              td.append('span').attr('class', 'bar').style('width', (100 * v / peakTotal).toFixed(1) + '%');
            }
          } else if (c.num) {
            td.text(count(v));
          } else {
            td.text(v).attr('title', v);
          }
        });
      });
      head.selectAll('th').attr('aria-sort', function (c) {
        return c.key === sortKey ? (ascending ? 'ascending' : 'descending') : null;
      });
    }
    head.selectAll('th').data(columns).join('th')
      .attr('class', function (c) { return c.num ? 'num' : null; })
      .text(function (c) { return c.title; })
      .on('click', function (event, c) {
        if (sortKey === c.key) ascending = !ascending;
        else { sortKey = c.key; ascending = !c.num || c.key === 'rank'; }
        fill();
      });
    if (!rows.length) {
      body.append('tr').append('td').attr('colspan', columns.length).attr('class', 'empty')
        .text('sites.csv lists no sites.');
      return;
    }
    fill();
  });

  // --- the kernel-format texts at the peak ------------------------------------------------------
  part('kernel', function () {
    document.getElementById('buddyinfo').textContent = data.buddyinfo || '(empty)';
    document.getElementById('slabinfo').textContent = data.slabinfo || '(empty)';
  });
})();
