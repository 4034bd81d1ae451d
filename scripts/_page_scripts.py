"""JavaScript that ``screenshot_widget.py`` runs in the JupyterLab page (over the DevTools
protocol): find the notebook panel, its kernel's state, the cells' progress, what the widget
shows (``JS_FACTS``), a widget button's spot on screen, a painted frame."""

from __future__ import annotations

# the notebook panel (JupyterLab started with expose_app_in_browser)
JS_PANEL = """(() => {
  const app = window.jupyterapp;
  if (!app || !app.shell) { return null; }
  const w = [...app.shell.widgets('main')].find(w => w.content && w.sessionContext);
  if (w && app.shell.currentWidget !== w) { app.shell.activateById(w.id); }
  return w || null;
})()"""

JS_READY = f"""(() => {{
  const w = {JS_PANEL};
  if (!w || !w.context.isReady) {{ return 'loading'; }}
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  return k ? k.status : 'no kernel';
}})()"""

JS_PROGRESS = f"""(() => {{
  const w = {JS_PANEL};
  const cells = w.content.widgets.filter(c => c.model.type === 'code');
  const errors = [];
  for (const c of cells) {{
    for (let i = 0; i < c.model.outputs.length; i++) {{
      const o = c.model.outputs.get(i).toJSON();
      if (o.output_type === 'error') {{
        errors.push(o.ename + ': ' + o.evalue + '\\n' + (o.traceback || []).join('\\n'));
      }}
    }}
  }}
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  return {{
    cells: cells.length,
    executed: cells.filter(c => c.model.executionCount !== null).length,
    running: cells.filter(c => c.node.querySelector('.jp-InputPrompt') &&
                                c.node.querySelector('.jp-InputPrompt').textContent.includes('*'))
                  .length,
    kernel: k ? k.status : 'none',
    errors: errors,
  }};
}})()"""

JS_FACTS = """(() => {
  const roots = [...document.querySelectorAll('.jp-OutputArea-output')]
    .filter(o => o.querySelector('.jupyter-widgets'));
  const root = roots.length ? roots[0] : null;
  const text = root ? root.innerText : '';
  const all = document.body.innerText;
  return {
    widget_outputs: roots.length,
    plots: root ? root.querySelectorAll('.js-plotly-plot').length : 0,
    // the charts: one figure's panels (its subplots), drawn
    charts: root ? root.querySelectorAll('.js-plotly-plot .cartesianlayer > .subplot').length : 0,
    main_svg: root ? root.querySelectorAll('.main-svg').length : 0,
    traces: root ? root.querySelectorAll('.js-plotly-plot .scatterlayer .trace').length : 0,
    buttons: root ? [...root.querySelectorAll('button.widget-button')].map(b => ({
      label: b.innerText.trim(), disabled: b.disabled,
      color: getComputedStyle(b).backgroundColor})) : [],
    text: text,
    loading_widget: all.includes('Loading widget'),
    error_displaying: all.includes('Error displaying widget'),
    text_fallback: all.includes('<NotebookRun '),
    output_width: root ? Math.round(root.getBoundingClientRect().width) : 0,
    plot_widths: root ? [...root.querySelectorAll('.js-plotly-plot')]
      .map(p => p.querySelector('.main-svg'))  // none yet: a chart still being made
      .map(svg => svg ? Math.round(svg.getBoundingClientRect().width) : 0) : [],
  };
})()"""


JS_BUTTON = """(label => {
  const b = [...document.querySelectorAll('.jp-OutputArea-output button.widget-button')]
    .find(b => b.innerText.trim() === label);
  if (!b) { return null; }
  b.scrollIntoView({block: 'center'});
  const r = b.getBoundingClientRect();
  const x = r.x + r.width / 2, y = r.y + r.height / 2;
  const hit = document.elementFromPoint(x, y);
  return {x: x, y: y, disabled: b.disabled, on_target: !!hit && b.contains(hit)};
})"""

JS_PAINTED = "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"
"""Resolves once the page has painted a frame after the call (layout and plotly done)."""

WIDGET_OUTPUT = (
    "[...document.querySelectorAll('.jp-OutputArea-output')]"
    ".find(o => o.querySelector('.jupyter-widgets'))"
)
"""The output area that holds the widget (undefined when there is none)."""
