"""`kinevid serve`: the Gradio web demo. `models` caches the pipelines, `handlers` runs one request into a
result directory (no Gradio needed, so it is tested without it), `plots` draws the foot plot and `app`
builds the `gr.Blocks` page. Gradio is imported only by `app` (the optional extra `kinevid[demo]`)."""
