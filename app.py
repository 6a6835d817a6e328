"""AVVP Lab — `streamlit run app.py`. The page list and the shared sidebar; pages live in pages/."""

import streamlit as st

from avvp_core import ui

st.set_page_config(page_title="AVVP Lab", page_icon=":material/graphic_eq:", layout="wide")

pages = {  # sections in the order a newcomer meets them: look, train, compare and inspect, teach
    "Start": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/data.py", title="Data", icon=":material/dataset:"),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    ],
    "Compare and inspect": [
        st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
        st.Page("pages/timelines.py", title="Timelines", icon=":material/view_timeline:"),
        st.Page("pages/your_video.py", title="Your video", icon=":material/movie:"),
        st.Page("pages/errors.py", title="Errors", icon=":material/report:"),
        st.Page("pages/thresholds.py", title="Thresholds", icon=":material/tune:"),
        st.Page("pages/features.py", title="Features", icon=":material/scatter_plot:"),
        st.Page("pages/attention.py", title="Attention", icon=":material/grid_on:"),
        st.Page("pages/imbalance.py", title="Imbalance", icon=":material/balance:"),
    ],
    "Teach": [st.Page("pages/lab.py", title="Lab", icon=":material/science:")],
}
navigation = st.navigation(pages)
ui.init_state()  # after st.navigation, which ends Streamlit's pages/-folder mode, so init_state need not rerun here
ui.sidebar()
navigation.run()
