"""A local SageMaker engine: built-in XGBoost training, a Neo-like compiler and model hosting.

Pure functions over local files and bytes, free of moto and boto3, so the offline cloud can call
them from its SageMaker backend. Import from the submodules: ``training``, ``compilation``,
``inference``; the package itself stays import-free so the training container starts fast.
"""
