"""Sphinx settings for the ganlab course site; `python tools/docs.py build _site` stages the pages and runs Sphinx."""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
project = 'ganlab'
author = 'ganlab contributors'
copyright = 'ganlab contributors, Apache-2.0'
extensions = ['myst_nb']
root_doc = 'index'
exclude_patterns = ['_build', '**.ipynb_checkpoints']

# Notebooks arrive executed (tools/run_chapters.py) and processed (tools/docs.py): never run them here.
nb_execution_mode = 'off'
nb_render_markdown_format = 'myst'        # show_doc's Markdown, math included, renders like the prose
nb_ipywidgets_js = {}                     # widgets are shown as static snapshots; no widget JavaScript from a CDN
nb_output_stderr = 'show'                # warnings a cell prints stay visible, as in JupyterLab
nb_merge_streams = True
myst_enable_extensions = ['dollarmath', 'amsmath', 'colon_fence', 'attrs_inline', 'attrs_block']
myst_dmath_double_inline = True
myst_heading_anchors = 3
suppress_warnings = []

# MathJax is served from the site itself (copied there by tools/docs.py), never from a CDN.
mathjax_path = 'mathjax/tex-chtml-full.js'

html_theme = 'sphinx_book_theme'
html_title = 'ganlab'
html_static_path = ['_static', os.environ.get('GANLAB_DOCS_STATIC', str(ROOT/'_build'/'site_static'))]
html_css_files = ['ganlab.css']
html_copy_source = True
html_show_sourcelink = False
html_last_updated_fmt = None
html_theme_options = {
    'use_download_button': True,
    'use_fullscreen_button': False,
    'show_toc_level': 2,
    'home_page_in_toc': True,
    'navigation_with_keys': False,
}
