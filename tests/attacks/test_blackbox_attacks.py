def test_placeholder(trained_mlp):
    pass
