"""A video's filmstrip drawn inside a timeline figure, on the same x axis: thumbnail k sits exactly over
segment k's column, whatever the width of the row labels."""

from __future__ import annotations

import numpy as np

from ..constants import NUM_SEGMENTS
from ..videos import image_uri

STRIP_PX = 64  # height of the filmstrip row: 4:3 thumbnails when a segment column is ~85 px wide


def add_filmstrip(fig, strip: np.ndarray, strip_px: int = STRIP_PX):
    """Put `strip` ((h, 10·w, 3) uint8, from `videos.filmstrip`) above the plot of a figure whose x axis is the
    segment index; the figure grows by `strip_px` and its y axis keeps the rest. Returns the figure."""
    layout = fig.layout
    margin_v = (layout.margin.t or 80) + (layout.margin.b or 80)
    height = int(layout.height or 450) + strip_px
    share = strip_px / max(height - margin_v, strip_px + 1)  # of the plotting area, in paper coordinates
    fig.update_layout(height=height, yaxis={"domain": [0.0, 1.0 - share]},
                      xaxis={"range": [-0.5, NUM_SEGMENTS - 0.5]})
    for heat in fig.select_traces(selector={"type": "heatmap"}):  # rows flush under the strip, scale beside them
        heat.colorbar.update(len=1.0 - share, y=0.0, yanchor="bottom")
        if heat.y is not None and fig.layout.yaxis.autorange == "reversed":
            fig.update_yaxes(range=[len(heat.y) - 0.5, -0.5], autorange=False)
    fig.add_layout_image(source=image_uri(strip), xref="x", yref="paper", x=-0.5, y=1.0, sizex=NUM_SEGMENTS,
                         sizey=share * 0.96, xanchor="left", yanchor="top", sizing="stretch", layer="above")
    return fig
